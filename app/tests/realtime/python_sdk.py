"""The official Python SDK (centrifuge-python) against the gateway, run by
app/tests/it/realtime.rs in the format CENTRIFUGE_FORMAT names (json, or
protobuf: `use_protobuf=True`). It connects with a connection token from the
API, subscribes, receives the exact record a REST send produced, reads
history, and after a disconnect recovers what was sent meanwhile, in order.
Prints `passed` when every check held; any failure raises (exit status 1)."""

import asyncio
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid

from centrifuge import Client, PublicationContext, SubscribedContext, SubscriptionEventHandler

BASE = os.environ["HARMONY_URLS"].split(",")[0]
PROTOBUF = {"json": False, "protobuf": True}[os.environ["CENTRIFUGE_FORMAT"]]
WS_URL = BASE.replace("http", "ws", 1) + "/connection/websocket"
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


async def client_of(who):
    token = (await expect(200, "/api/v1/realtime/token", token=who["access"]))["token"]
    return Client(WS_URL, token=token, use_protobuf=PROTOBUF, min_reconnect_delay=0.05, max_reconnect_delay=0.5)


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

    async def on_subscribed(self, ctx: SubscribedContext) -> None:
        await self.subscribed.put(ctx)

    async def on_publication(self, ctx: PublicationContext) -> None:
        await self.publications.put(ctx.pub)


async def next_of(queue, what):
    try:
        return await asyncio.wait_for(queue.get(), WAIT)
    except asyncio.TimeoutError:
        raise AssertionError(f"no {what} within {WAIT} s") from None


async def main():
    ann, bob = await user("ann"), await user("bob")
    created = await expect(
        201,
        "/api/v1/chats/",
        method="POST",
        token=ann["access"],
        body={"title": "Team", "description": None, "user_id_list": [bob["id"]]},
    )
    channel = f"chat:{created['chat_id']}"
    chat_id = created["chat_id"]

    client = await client_of(bob)
    events = Events()
    sub = client.new_subscription(channel, events=events)
    await client.connect()
    await sub.subscribe()
    subscribed = await next_of(events.subscribed, "subscribed")
    assert subscribed.recoverable and not subscribed.was_recovering, subscribed

    sent = await send(ann, chat_id, "  hello\n  from python  ")
    publication = await next_of(events.publications, "publication")
    assert data(publication) == sent, (data(publication), sent)
    assert publication.offset == 1, publication.offset
    history = await sub.history(limit=10)
    assert [data(p) for p in history.publications] == [sent], history
    assert history.offset == 1, history

    await client.disconnect()
    missed = [await send(ann, chat_id, f"missed {n}") for n in (1, 2)]
    # The gateway has them once another subscriber's history reaches offset 3.
    watcher = await client_of(ann)
    watch = watcher.new_subscription(channel)
    await watcher.connect()
    await watch.subscribe()
    for _ in range(500):
        if (await watch.history(limit=0)).offset >= 3:
            break
        await asyncio.sleep(0.02)
    await watcher.disconnect()

    await client.connect()
    recovered = await next_of(events.subscribed, "resubscribed")
    assert recovered.was_recovering and recovered.recovered, recovered
    got = [await next_of(events.publications, f"recovered {n}") for n in (1, 2)]
    assert [data(p) for p in got] == missed, [data(p) for p in got]
    assert [p.offset for p in got] == [2, 3], [p.offset for p in got]
    await client.disconnect()
    print("passed")


asyncio.run(main())
