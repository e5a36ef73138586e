"""A reply's image (the report's chart) and file (a CSV export) go to the person's DM with the app,
in one upload (files.getUploadURLExternal, the bytes, files.completeUploadExternal)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_render as render
from bot.replies import Reply, error_reply

log = logging.getLogger("darebot.slack")

ALT_TEXT = 1000  # files.getUploadURLExternal: alt_txt is at most 1000 characters


def file_uploads(reply: Reply) -> list[dict[str, Any]]:
    """files_upload_v2's file_uploads for a reply: its image (with alt text) and its file."""
    uploads: list[dict[str, Any]] = []
    if reply.image is not None:
        title = render.file_text(reply.title or reply.image.filename, 250)
        uploads.append(
            {
                "filename": render.file_name(reply.image.filename),
                "content": reply.image.content,
                "title": title,
                "alt_txt": render.file_text(reply.image.alt or f"Chart: {title}", ALT_TEXT),
            }
        )
    if reply.file is not None:
        name = render.file_name(reply.file.filename)
        uploads.append({"filename": name, "content": reply.file.content, "title": name})
    return uploads


async def send_files(
    client: AsyncWebClient, user_id: str, reply: Reply, tell: Callable[[Reply], Awaitable[None]] | None = None
) -> None:
    """Upload the reply's files to the person's DM; a failure is logged and, given `tell`, told."""
    # A chart is drawn on first read: off the event loop.
    uploads = await asyncio.to_thread(file_uploads, reply)
    if not uploads or not user_id:
        return
    try:
        opened = await client.conversations_open(users=user_id)
        channel = (opened.get("channel") or {}).get("id")
        await client.files_upload_v2(channel=channel, file_uploads=uploads)
    except Exception as err:
        names = ", ".join(u["filename"] for u in uploads)
        log.exception("slack: sending %s to %s failed", names, user_id)
        if tell is None:
            return
        reason = str(err.response.get("error") or "error") if isinstance(err, SlackApiError) else "upload failed"
        await tell(
            error_reply(
                f"{names} could not be sent to your DM with darebot ({reason}). Try the command again in a minute."
            )
        )
