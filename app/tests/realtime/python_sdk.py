"""The official Python SDK (centrifuge-python) against the gateway, run by
app/tests/it/realtime.rs in the format CENTRIFUGE_FORMAT names (json, or
protobuf: `use_protobuf=True`). It connects with a connection token from the
API, subscribes, receives the exact record a REST send produced, reads
history, and after a disconnect recovers what was sent meanwhile, in order.
Prints `passed` when every check held; any failure raises (exit status 1)."""

import asyncio

from sdk_support import Events, client_of, data, expect, next_of, send, user


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
