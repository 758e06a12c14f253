"""docs/migration.md: its one-liner turns a static YAML file into a tenant document the
store and the Config API contract accept (no `auth`, keys kept)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import yaml

from proxy.admin.documents import validate
from tests.docs.openapi import DOCS, response_validator

PAGE = (DOCS / "migration.md").read_text()
STATIC = """
models:
  - model_name: gpt-4o-mini
    provider: openai
    api_base: https://api.openai.com
    api_key: sk-migration.test-key-0001
    fallbacks: [backup]
  - model_name: backup
    provider: mock
budget: {monthly_usd: 100.0}
limits: {rpm: 600}
auth:
  keys: [tp-static-client-key]
"""


def test_the_conversion_one_liner_makes_a_valid_tenant_document():
    scripts = set(re.findall(r"python3 -c '([^']+)'", PAGE))
    assert scripts, "docs/migration.md has no conversion one-liner"
    for script in scripts:
        done = subprocess.run(
            [sys.executable, "-c", script], input=STATIC, capture_output=True, text=True, check=True
        )
        document = json.loads(done.stdout)
        assert "auth" not in document
        assert document == {k: v for k, v in yaml.safe_load(STATIC).items() if k != "auth"}
        validate(document)  # what POST /admin/tenants checks
        response_validator("config-api.yaml", "/users/{user_id}/config", "get", 200).validate(
            document
        )
