"""The orchestrator's capacity as go accounts it: checking capacity (seg creds, GetOrchestrator)
takes no slot; a slot is held by a running transcoding session from its first paid segment until
EndTranscodingSession or 70 s without a segment; AI requests and refused payments take none."""
import asyncio
import time

import pytest

from tests.node.hostile import paid_network


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_checking_takes_no_slot_and_idle_sessions_end_after_70_s():
    from node.orchestrator.node import SESSION_IDLE_TIMEOUT, OrchestratorConfig, OrchestratorNode

    clock = Clock()
    node = OrchestratorNode(OrchestratorConfig("http://o", max_sessions=2), clock=clock)
    assert all(node.check_capacity(f"s{i}") for i in range(50)) and not node.sessions
    assert node.use_session("a") and node.use_session("b") and node.at_capacity()
    assert not node.use_session("c") and not node.check_capacity("c")
    assert node.check_capacity("a") and node.use_session("a")  # a running session keeps its slot
    node.end_session("b")
    assert not node.at_capacity() and node.use_session("c")
    clock.now += SESSION_IDLE_TIMEOUT  # not yet past 70 s
    assert node.at_capacity()
    clock.now += 0.5
    assert not node.at_capacity() and not node.sessions


def test_streams_hold_slots_while_they_run_and_end_transcoding_session_frees_one():
    pytest.importorskip("av")
    import grpc
    import httpx

    from node.net import wire
    from node.net.auth import issue_auth_token
    from node.net.proto import lp_rpc_pb2 as pb
    from node.net.proto import lp_rpc_pb2_grpc as pb_grpc
    from node.worker.media import synthetic_segment

    segment = synthetic_segment(1.0, 256, 144)

    async def scenario():
        async with paid_network(max_sessions=4, transcoding=True) as net, httpx.AsyncClient(timeout=60) as client:
            async def push(stream: str, seq: int) -> int:
                reply = await client.post(f"{net.gateway_uri}/live/{stream}/{seq}.ts", content=segment,
                                          headers={"Content-Duration": "1000"})
                return reply.status_code

            # four streams, two segments each, all at once: every stream gets a slot and keeps it
            statuses = await asyncio.gather(*(push(f"s{i}", seq) for seq in range(2) for i in range(4)))
            assert statuses == [200] * 8
            assert len(net.orchestrator.sessions) == 4 and net.orchestrator.at_capacity()
            # a fifth stream finds the orchestrator capped (GetOrchestrator refuses it)
            assert await push("s4", 0) == 503
            # ending one session (go's gateway does when a stream ends) frees its slot
            token = issue_auth_token(net.orchestrator.secret, next(iter(net.orchestrator.sessions)), time.time())
            async with grpc.aio.insecure_channel(net.orchestrator_uri.split("://")[1]) as channel:
                await pb_grpc.OrchestratorStub(channel).EndTranscodingSession(
                    pb.EndTranscodingSessionRequest(auth_token=wire.auth_token_to_proto(token)), timeout=5)
            assert not net.orchestrator.at_capacity()

    asyncio.run(asyncio.wait_for(scenario(), 120))
