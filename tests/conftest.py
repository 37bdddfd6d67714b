"""Shared by every test directory: this folder is on ``sys.path``, so ``import doc_blocks`` works."""
