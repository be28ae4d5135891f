"""Schemathesis hooks for Harmony: every request runs as a fresh, real
account (signed up and logged in through the API itself), renewed each
second, so a run that closes its account or logs out goes on as someone else."""

import os
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
