"""Presence, join/leave and typing with the official Python SDK
(centrifuge-python) across two gateway instances, run by
app/tests/it/realtime.rs in the format CENTRIFUGE_FORMAT names. Ann is on
instance 0, Bob on instance 1: each is listed, announced and heard on the
other's. Typing reaches the other instance without an offset and is never
history; other shapes (107), floods (111) and non-members (103) are refused.
Prints `passed` when every check held; any failure raises (exit status 1)."""

import asyncio
import json

from centrifuge import ReplyError

from sdk_support import PROTOBUF, URLS, Events, client_of, data, expect, next_where, send, user


def encoded(value):
    """Publication data as the SDK wants it: bytes in protobuf."""
    return json.dumps(value).encode() if PROTOBUF else value


def typing(active):
    return encoded({"type": "typing", "active": active})


async def publish_code(sub_or_client, *args):
    """The publish error's code, or 0 when it was accepted."""
    try:
        await sub_or_client.publish(*args)
        return 0
    except ReplyError as error:
        return error.code


async def presence_code(client, channel):
    try:
        await client.presence(channel)
        return 0
    except ReplyError as error:
        return error.code


async def subscribed(client, channel, me):
    """Subscribed, and listed: the own join comes after the entry is written."""
    events = Events()
    sub = client.new_subscription(channel, events=events)
    await sub.subscribe()
    await next_where(events.joins, f"{me['name']}'s own join", lambda info: info.user == me["id"])
    return sub, events


def users(presence):
    return sorted(info.user for info in presence.clients.values())


async def main():
    assert len(URLS) == 2, URLS
    ann, bob, cid = await user("ann"), await user("bob"), await user("cid")
    created = await expect(
        201,
        "/api/v1/chats/",
        method="POST",
        token=ann["access"],
        body={"title": "Team", "description": None, "user_id_list": [bob["id"]]},
    )
    chat_id = created["chat_id"]
    channel = f"chat:{chat_id}"

    anns, bobs = await client_of(ann, 0), await client_of(bob, 1)
    await anns.connect()
    await bobs.connect()
    ann_sub, ann_events = await subscribed(anns, channel, ann)
    bob_sub, _ = await subscribed(bobs, channel, bob)
    join = await next_where(ann_events.joins, "bob's join on ann's instance", lambda info: info.user == bob["id"])
    assert join.client, join

    presence = await ann_sub.presence()
    assert users(presence) == sorted([ann["id"], bob["id"]]), presence
    assert presence.clients[join.client].user == bob["id"], presence
    stats = await bob_sub.presence_stats()
    assert (stats.num_clients, stats.num_users) == (2, 2), stats

    # Typing from instance 1 reaches instance 0 with its publisher, no offset.
    await bob_sub.publish(typing(True))
    typed = await next_where(
        ann_events.publications, "bob's typing", lambda pub: pub.info is not None and pub.info.user == bob["id"]
    )
    assert data(typed) == {"type": "typing", "active": True}, data(typed)
    assert not typed.offset, typed.offset

    for wrong in ({"type": "typing"}, {"type": "typing", "active": True, "extra": 1}, {"type": "message", "active": True}):
        assert await publish_code(bob_sub, encoded(wrong)) == 107, wrong
    # A burst past the allowance (5 at once, then 1 a second): refused with 111.
    codes = [await publish_code(bob_sub, typing(n % 2 == 0)) for n in range(8)]
    assert 111 in codes, codes
    accepted = 1 + codes.count(0)
    assert accepted <= 6, codes

    # The channel's stream is untouched: the next message is offset 1, and
    # history holds only it.
    sent = await send(ann, chat_id, "after typing")
    message = await next_where(
        ann_events.publications, "the message", lambda pub: pub.info is None or pub.info.user != bob["id"]
    )
    assert data(message) == sent, data(message)
    assert message.offset == 1, message.offset
    history = await ann_sub.history(limit=10)
    assert [data(p) for p in history.publications] == [sent], history

    # Not a member: no typing, no presence.
    cids = await client_of(cid, 0)
    await cids.connect()
    assert await publish_code(cids, channel, typing(True)) == 103
    assert await presence_code(cids, channel) == 103
    await cids.disconnect()

    left = asyncio.ensure_future(
        next_where(ann_events.leaves, "bob's leave", lambda info: info.user == bob["id"])
    )
    await bobs.disconnect()
    assert (await left).client == join.client
    assert users(await ann_sub.presence()) == [ann["id"]]
    stats = await ann_sub.presence_stats()
    assert (stats.num_clients, stats.num_users) == (1, 1), stats
    await anns.disconnect()
    print("passed")


asyncio.run(main())
