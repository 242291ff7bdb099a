"""Drives the Python MCP SDK (`mcp`, an independent client; `cargo xtask test`
installs it into target/mcp) against an Interlink host, for
host/tests/it/mcp.rs: one JSON command a line on standard input, one JSON
answer a line on standard output.

    driver.py URL TOKEN [--mode auto|legacy] [--elicit accept|decline]

`--mode legacy` forces the initialize handshake (protocol versions before
2026-07-28, with a session); `auto`, the SDK's default, negotiates
2026-07-28. With `--elicit`, the client declares that it can ask its user,
and answers every elicitation so (recording what it was asked).

Commands and answers:

    {"op": "info"}      -> {"protocol_version": "..."}
    {"op": "tools"}     -> {"tools": [<Tool>, ...]}  (every page)
    {"op": "call", "name": "...", "arguments": {...}}
                        -> {"result": <CallToolResult>}, or
                           {"error": {"code": <JSON-RPC code>, "message": "..."}}
    {"op": "listen"}    -> {"listening": true} once the server acknowledged a
                           subscriptions/listen for tools/list_changed (2026-07-28)
    {"op": "changes"}   -> {"changes": <tools/list_changed seen so far>}
    {"op": "asked"}     -> {"asked": [<elicitation messages, in order>]}
"""

import argparse
import json
import sys

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


def dump(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("--mode", default="auto")
    parser.add_argument("--elicit", choices=["accept", "decline"])
    args = parser.parse_args()

    seen = {"changes": 0}
    asked = []

    async def on_message(message):
        if isinstance(message, types.ToolListChangedNotification):
            seen["changes"] += 1
        await anyio.lowlevel.checkpoint()

    async def on_elicit(_context, params):
        asked.append(params.message)
        if args.elicit == "accept":
            return types.ElicitResult(action="accept", content={"confirm": True})
        return types.ElicitResult(action="decline")

    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {args.token}"},
        timeout=httpx2.Timeout(30, read=300),
    )
    client = Client(
        streamable_http_client(args.url, http_client=http),
        mode=args.mode,
        message_handler=on_message,
        elicitation_callback=on_elicit if args.elicit else None,
        cache=None,
    )

    async def listen(*, task_status):
        async with client.listen(tools_list_changed=True) as subscription:
            task_status.started()
            async for _event in subscription:
                seen["changes"] += 1

    async with http, client, anyio.create_task_group() as tasks:
        while line := await anyio.to_thread.run_sync(sys.stdin.readline):
            command = json.loads(line)
            op = command["op"]
            try:
                if op == "info":
                    answer = {"protocol_version": client.protocol_version}
                elif op == "tools":
                    tools, cursor = [], None
                    while True:
                        page = await client.list_tools(cursor=cursor)
                        tools += [dump(t) for t in page.tools]
                        cursor = page.next_cursor
                        if not cursor:
                            break
                    answer = {"tools": tools}
                elif op == "call":
                    result = await client.call_tool(command["name"], command.get("arguments"))
                    answer = {"result": dump(result)}
                elif op == "listen":
                    await tasks.start(listen)
                    answer = {"listening": True}
                elif op == "changes":
                    answer = {"changes": seen["changes"]}
                elif op == "asked":
                    answer = {"asked": asked}
                else:
                    answer = {"error": {"code": 0, "message": f"unknown op {op}"}}
            except MCPError as error:
                answer = {"error": {"code": error.error.code, "message": error.error.message}}
            print(json.dumps(answer), flush=True)
        tasks.cancel_scope.cancel()


anyio.run(main)
