"""`python -m node.worker.ai --pipeline text-to-image --model-id ... --mode mock --port 8000`"""
import sys

from .app import main

sys.exit(main())
