"""Schemathesis hooks for Harmony: every request runs as a fresh, real
account (signed up and logged in through the API itself), renewed each
second, so a run that closes its account or logs out goes on as someone else."""

import os
import time
import uuid

import requests
import schemathesis

BASE = os.environ["HARMONY_URL"]


@schemathesis.auth(refresh_interval=1)
class FreshAccount:
    def get(self, case, context):
        email = f"contract-{uuid.uuid4().hex}@example.com"
        password = "contract password"
        created = requests.post(
            f"{BASE}/api/v1/users/",
            json={"username": "contract", "email": email, "password": password},
            timeout=10,
        )
        created.raise_for_status()
        tokens = requests.post(
            f"{BASE}/api/v1/auth/token",
            data={"username": email, "password": password},
            timeout=10,
        )
        tokens.raise_for_status()
        return tokens.json()[0]["token"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers.setdefault("Authorization", f"Bearer {data}")


def sign_up():
    """A fresh account's access token."""
    return FreshAccount().get(None, None)


class OwnChat:
    """One account and its chat, made once, for the cases that need a real
    message: a message's changes and replies answer 404/422 for messages that
    do not exist, which the document cannot rule out of valid input."""

    token = None
    chat_id = None

    @classmethod
    def message(cls):
        """A fresh message of the chat, once stored (the API reads it)."""
        if cls.token is None:
            cls.token = sign_up()
            created = requests.post(
                f"{BASE}/api/v1/chats/",
                json={"title": "contract", "user_id_list": []},
                headers=cls.headers(),
                timeout=10,
            )
            created.raise_for_status()
            cls.chat_id = created.json()["chat_id"]
        sent = requests.post(
            f"{BASE}/api/v1/chats/{cls.chat_id}",
            json={"content": "a message to change"},
            headers=cls.headers(),
            timeout=10,
        )
        sent.raise_for_status()
        ulid = sent.json()["ulid"]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            page = requests.get(
                f"{BASE}/api/v1/chats/{cls.chat_id}?limit=1",
                headers=cls.headers(),
                timeout=10,
            )
            page.raise_for_status()
            if any(m["ulid"] == ulid for m in page.json()["messages"]):
                return ulid
            time.sleep(0.02)
        raise TimeoutError(f"message {ulid} not in history within 15 s")

    @classmethod
    def headers(cls):
        return {"Authorization": f"Bearer {cls.token}"}


@schemathesis.hook
def before_call(context, case, **kwargs):
    """Valid input to an edit, a deletion or a reply targets a real message
    of the caller's own chat (invalid input keeps what was generated)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    operation = case.operation
    # Reactions are left out: their emoji path parameter is generated already
    # percent-encoded, so once the hook edits the path schemathesis judges
    # the encoded emoji against the pattern and takes the case for invalid
    # input. Their valid input keeps its random chat (403); the edit and
    # the deletion answer the same MessageChange schema.
    is_change = operation.path == "/api/v1/chats/{chat_id}/messages/{ulid}"
    is_reply = (
        operation.path == "/api/v1/chats/{chat_id}"
        and operation.method.lower() == "post"
        and isinstance(case.body, dict)
        and case.body.get("reply_to") is not None
    )
    if not (is_change or is_reply):
        return
    ulid = OwnChat.message()
    case.path_parameters = {**(case.path_parameters or {}), "chat_id": OwnChat.chat_id}
    if is_change:
        case.path_parameters["ulid"] = ulid
    else:
        case.body = {**case.body, "reply_to": ulid}
    case.headers = {**(case.headers or {}), **OwnChat.headers()}
