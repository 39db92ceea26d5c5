"""Wire formats between nodes (go-livepeer net/, server/rpc.go, server/segment_rpc.go): the
`net` protobuf messages and services (`proto`), the core's values as those messages (`wire`),
signatures and auth tokens (`auth`), and the Livepeer-Segment / Livepeer-Payment headers with
the orchestrator's checks on them (`headers`). Pure functions: transports live elsewhere.
"""
