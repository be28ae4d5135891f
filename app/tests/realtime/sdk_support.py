"""What the Python SDK tests (python_sdk.py, python_presence.py) share: the
API over HTTP, users, sends, a client of the official SDK (centrifuge-python)
in the format CENTRIFUGE_FORMAT names, and a subscription's events as queues."""

import asyncio
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid

from centrifuge import Client, JoinContext, LeaveContext, PublicationContext, SubscribedContext, SubscriptionEventHandler

URLS = os.environ["HARMONY_URLS"].split(",")
BASE = URLS[0]
PROTOBUF = {"json": False, "protobuf": True}[os.environ["CENTRIFUGE_FORMAT"]]
WAIT = 10


def api(path, method="GET", token=None, body=None, form=None):
    headers, payload = {}, None
    if token:
        headers["authorization"] = f"Bearer {token}"
    if form is not None:
        headers["content-type"] = "application/x-www-form-urlencoded"
        payload = urllib.parse.urlencode(form).encode()
    elif body is not None:
        headers["content-type"] = "application/json"
        payload = json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=payload, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    return status, json.loads(text) if text else None


async def expect(status, path, **kwargs):
    got, body = await asyncio.to_thread(api, path, **kwargs)
    assert got == status, f"{path}: expected {status}, got {got}: {body}"
    return body


async def user(name):
    email = f"{name}-{uuid.uuid4()}@example.com"
    password = "correct horse battery"
    created = await expect(
        201, "/api/v1/users/", method="POST", body={"username": name, "email": email, "password": password}
    )
    tokens = await expect(
        200, "/api/v1/auth/token", method="POST", form={"username": email, "password": password}
    )
    return {"id": created["user_id"], "name": name, "access": tokens[0]["token"]}


async def send(author, chat_id, content):
    sent = await expect(
        201,
        f"/api/v1/chats/{chat_id}",
        method="POST",
        token=author["access"],
        body={"content": content, "client_uuid": str(uuid.uuid4())},
    )
    return {**sent, "author_metadata": {"username": author["name"]}}


async def client_of(who, instance=0):
    """A client of `who` on gateway `instance` (of HARMONY_URLS)."""
    token = (await expect(200, "/api/v1/realtime/token", token=who["access"]))["token"]
    ws_url = URLS[instance].replace("http", "ws", 1) + "/connection/websocket"
    return Client(ws_url, token=token, use_protobuf=PROTOBUF, min_reconnect_delay=0.05, max_reconnect_delay=0.5)


def data(publication):
    """JSON in JSON; in protobuf the SDK gives the record's bytes."""
    if PROTOBUF:
        assert isinstance(publication.data, bytes), type(publication.data)
        return json.loads(publication.data)
    return publication.data


class Events(SubscriptionEventHandler):
    def __init__(self):
        self.subscribed = asyncio.Queue()
        self.publications = asyncio.Queue()
        self.joins = asyncio.Queue()
        self.leaves = asyncio.Queue()

    async def on_subscribed(self, ctx: SubscribedContext) -> None:
        await self.subscribed.put(ctx)

    async def on_publication(self, ctx: PublicationContext) -> None:
        await self.publications.put(ctx.pub)

    async def on_join(self, ctx: JoinContext) -> None:
        await self.joins.put(ctx.info)

    async def on_leave(self, ctx: LeaveContext) -> None:
        await self.leaves.put(ctx.info)


async def next_of(queue, what):
    try:
        return await asyncio.wait_for(queue.get(), WAIT)
    except asyncio.TimeoutError:
        raise AssertionError(f"no {what} within {WAIT} s") from None




async def next_where(queue, what, matches):
    """The next item of `queue` that `matches`, skipping the others."""
    while True:
        item = await next_of(queue, what)
        if matches(item):
            return item
