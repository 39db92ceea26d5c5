"""Workers: the pipelines an orchestrator runs. `profiles` (pure data) and `transcode` (PyAV:
libx264 / h264_nvenc) for video; `media` makes synthetic test segments. Submodules are imported
on demand so that importing `node.worker` does not load PyAV."""
