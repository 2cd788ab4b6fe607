"""The webhook intake's HTTP side: the ASGI app (Starlette) and its server (uvicorn).

Sits between the cli and the pipeline: it parses HTTP (secret, body size) and hands each body
to pipeline/webhook.py, which writes it the way `sync` writes a page.
"""
