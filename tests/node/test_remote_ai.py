"""Remote AI workers without processes: how a multipart request becomes a job (go's typed request
body plus an input URL served while the task runs) and how the worker's result comes back."""
import asyncio
import base64
import json
import re

import pytest

from node.orchestrator.remote import (RemoteAIWorker, RemoteAIWorkers, ai_form_from_request, ai_request_from_form,
                                      ai_result_from_multipart)


def test_a_form_becomes_gos_typed_request_body_with_the_file_null():
    form = {"prompt": "a cat", "model_id": "m", "seed": "7", "strength": "0.5", "safety_check": "F",
            "num_inference_steps": "-3", "unknown": "dropped"}
    assert ai_request_from_form("image-to-image", form) == {
        "image": None, "prompt": "a cat", "model_id": "m", "seed": 7, "strength": 0.5, "safety_check": False,
        "num_inference_steps": -3}
    # prompt is not optional in go's image-to-image body: always present
    assert ai_request_from_form("image-to-image", {})["prompt"] == ""
    assert ai_request_from_form("audio-to-text", {"return_timestamps": "word"}) == {
        "audio": None, "return_timestamps": "word"}
    for bad in ({"seed": "1.5"}, {"strength": "x"}, {"strength": "nan"}, {"safety_check": "yes"}):
        with pytest.raises(ValueError):
            ai_request_from_form("image-to-image", bad)


def test_the_worker_rebuilds_the_runners_form_as_gos_multipart_writers():
    request = {"image": None, "prompt": "a cat", "model_id": "m", "seed": 7, "strength": 0.5, "safety_check": True,
               "loras": None, "extra": 1}
    assert ai_form_from_request("image-to-image", request) == (
        "image", {"prompt": "a cat", "model_id": "m", "seed": "7", "strength": "0.500000", "safety_check": "true"})
    assert ai_form_from_request("audio-to-text", {"audio": None, "metadata": "{}"}) == ("audio", {"metadata": "{}"})
    with pytest.raises(ValueError):
        ai_form_from_request("image-to-image", {"seed": "7"})


def test_the_input_is_served_while_its_task_runs_and_gone_after():
    async def scenario():
        workers = RemoteAIWorkers("s")
        worker = RemoteAIWorker("w", frozenset({"image-to-image"}))
        workers.workers.append(worker)
        job = asyncio.create_task(workers.run("image-to-image", {"image": None, "prompt": "p"}, input=b"PNG",
                                              service_uri="http://orch:8935"))
        notify = await worker.queue.get()
        data = json.loads(notify.AIJobData.requestData)
        assert data["request"] == {"image": None, "prompt": "p"}
        match = re.fullmatch(r"http://orch:8935/stream/([0-9a-f]{8}/[0-9a-f]{8}\.tempfile)", data["input_url"])
        assert match and workers.input(match[1]) == b"PNG"
        assert workers.input("0badc0de/0badc0de.tempfile") is None
        workers.result(notify.taskId, b'{"images": []}', None)
        assert await job == b'{"images": []}'
        assert workers.input(match[1]) is None and not workers.inputs

    asyncio.run(scenario())


def test_result_files_come_back_as_data_urls_of_their_parts_type():
    frame, wav = b"\x89PNG-frame", b"RIFF-wav"
    doc = {"frames": [[{"url": "a.png", "seed": 1}]], "audio": {"url": "b.wav"}}
    body = (b"--B\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=a.png\r\n\r\n" + frame
            + b"\r\n--B\r\nContent-Type: audio/wav\r\nContent-Disposition: attachment; filename=b.wav\r\n\r\n" + wav
            + b"\r\n--B\r\nContent-Type: application/json\r\n\r\n" + json.dumps(doc).encode() + b"\r\n--B--\r\n")
    out = json.loads(ai_result_from_multipart(body, "B"))
    assert out["frames"][0][0] == {"url": "data:image/png;base64," + base64.b64encode(frame).decode(), "seed": 1}
    assert out["audio"]["url"] == "data:audio/wav;base64," + base64.b64encode(wav).decode()
