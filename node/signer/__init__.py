"""The remote signer (`lpnode remote-signer`, go-livepeer's -remoteSigner): holds a gateway's key
and funds and signs for gateways that hold neither (server/remote_signer.go)."""
