"""The eight reference apps, one small module each (``a1`` … ``a8``), built on the core
factory; ``serve`` runs one of them under uvicorn over HTTPS on 127.0.0.1."""
