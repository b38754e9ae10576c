"""An agent tool that gets a task-scoped, DPoP-bound writ token and reads from the docs service.

No Python agent framework (LangGraph, CrewAI, Pydantic AI, the OpenAI Agents SDK) is installable on
the machines this repo is built on, so the tool is written in the shape those frameworks share: a
named function with a description and typed arguments, registered on a tiny ``Agent`` that calls
tools by name. Porting it is changing the decorator (``@tool`` in LangChain/LangGraph,
``@agent.tool_plain`` in Pydantic AI, ``@function_tool`` in the OpenAI Agents SDK).
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional

import httpx

import writ


@dataclass
class Tool:
    name: str
    description: str
    fn: Callable[..., Any]
    parameters: Dict[str, str] = field(default_factory=dict)

    def invoke(self, arguments: Dict[str, Any]) -> Any:
        return self.fn(**arguments)


class Agent:
    """The framework-shaped part: tools registered by decorator, called by name (by an LLM in a
    real framework; directly in the test)."""

    def __init__(self) -> None:
        self.tools: Dict[str, Tool] = {}

    def tool(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        params = {n: getattr(p.annotation, "__name__", str(p.annotation)) for n, p in inspect.signature(fn).parameters.items()}
        self.tools[fn.__name__] = Tool(fn.__name__, inspect.getdoc(fn) or "", fn, params)
        return fn

    def call(self, name: str, **arguments: Any) -> Any:
        return self.tools[name].invoke(arguments)


def make_agent(broker: str, credentials: writ.ClientSecret, service: str, on_pending: Optional[Callable[..., Any]] = None) -> Agent:
    agent = Agent()

    @agent.tool
    def read_doc(path: str, task_id: str) -> str:
        """Read a file under docs/ of acme/app for a task. Gets a token for exactly that file."""
        key = writ.DpopKey.generate()
        token = writ.request_token(
            broker,
            credentials,
            {
                "task": {"id": task_id, "purpose": f"read docs/{path}"},
                "ttl": "5m",
                "grants": [{"type": "repo", "actions": ["read"], "locations": ["https://git.example.com/acme/app"],
                            "identifier": f"docs/{path}"}],
            },
            dpop_key=key,
            on_pending=on_pending,
            timeout=300,
        )
        try:
            with httpx.Client(auth=writ.TokenAuth(token.access_token, key)) as http:
                res = http.get(f"{service}/docs/{path}")
                res.raise_for_status()
                return str(res.json()["content"])
        finally:
            # The task is done: the token dies now, not when it expires.
            writ.revoke(broker, credentials, token.access_token)

    return agent


if __name__ == "__main__":  # pragma: no cover
    agent = make_agent(
        os.environ.get("WRIT_URL", "http://localhost:8080"),
        writ.ClientSecret(os.environ.get("WRIT_CLIENT_ID", "demo-agent"), os.environ["WRIT_CLIENT_SECRET"]),
        os.environ.get("DOCS_SERVICE", "http://127.0.0.1:9000"),
    )
    print(agent.call("read_doc", path="README.md", task_id="JIRA-4711"))
