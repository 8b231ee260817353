"""The baselines that must be served: the bare minimum behind the same FastAPI/uvicorn stack.

python -m benchmarks.bare poster PORT SLACK_API_URL TOKEN CHANNEL
    POST /hook posts one fixed message to Slack and answers (speed to lead's baseline)
python -m benchmarks.bare bolt PORT SLACK_API_URL TOKEN SIGNING_SECRET
    a Bolt app whose only listeners ack every action and command (the ack baseline)
"""

from __future__ import annotations

import re
import sys

import fastapi
import httpx
import uvicorn
from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.http.slack_route import mount_slack


def poster(api_url: str, token: str, channel: str) -> fastapi.FastAPI:
    app = fastapi.FastAPI()
    client = httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/hook")
    def hook() -> dict[str, bool]:
        client.post("chat.postMessage", json={"channel": channel, "text": "A new lead"})
        return {"ok": True}

    return app


def bolt(api_url: str, token: str, secret: str) -> fastapi.FastAPI:
    bolt_app = App(
        client=WebClient(token=token, base_url=api_url),
        signing_secret=secret,
        token_verification_enabled=False,
    )

    def noop(ack: Ack) -> None:
        ack()

    bolt_app.action(re.compile(".*"))(noop)
    bolt_app.command(re.compile(".*"))(noop)
    app = fastapi.FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    mount_slack(app, bolt_app, signing_secret=secret)
    return app


if __name__ == "__main__":
    kind, port, *rest = sys.argv[1:]
    served = poster(*rest) if kind == "poster" else bolt(*rest)
    uvicorn.run(served, host="127.0.0.1", port=int(port), log_level="warning", access_log=False)
