"""Device type and browser name from a User-Agent string, the coarse way analytics do it."""

from __future__ import annotations

__all__ = ["DEVICE_TYPES", "browser_from_user_agent", "device_from_user_agent"]

#: Every value `device_from_user_agent` returns.
DEVICE_TYPES = ("mobile", "desktop", "tablet", "other")

# Substrings of non-browser clients (crawlers, link unfurlers, HTTP libraries): their clicks are
# real requests but not people on a device, so they count as "other".
_NON_HUMAN = (
    "bot",
    "crawl",
    "spider",
    "slurp",
    "facebookexternalhit",
    "preview",
    "curl/",
    "wget/",
    "python-",
    "httpx",
    "go-http-client",
    "java/",
    "okhttp",
    "headless",
)
_TABLET = ("ipad", "tablet", "kindle", "silk/", "playbook")
_MOBILE = ("iphone", "ipod", "windows phone", "blackberry", "opera mini", "mobile")


def device_from_user_agent(user_agent: str | None) -> str:
    """mobile | desktop | tablet | other; a missing User-Agent is "other" (no browser sent it)."""
    ua = (user_agent or "").strip().lower()
    if not ua or any(marker in ua for marker in _NON_HUMAN):
        return "other"
    if any(marker in ua for marker in _TABLET):
        return "tablet"
    if "android" in ua:
        # Android phones say "Mobile"; Android tablets leave it out.
        return "mobile" if "mobile" in ua else "tablet"
    if any(marker in ua for marker in _MOBILE):
        return "mobile"
    return "desktop"


def browser_from_user_agent(user_agent: str | None) -> str:
    """Chrome | Safari | Firefox | Edge | Other.

    Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
    """
    ua = (user_agent or "").lower()
    if "edg/" in ua or "edge/" in ua or "edga/" in ua or "edgios/" in ua:
        return "Edge"
    if "opr/" in ua or "opera" in ua or "samsungbrowser" in ua:
        return "Other"
    if "firefox/" in ua or "fxios/" in ua:
        return "Firefox"
    if "chrome/" in ua or "crios/" in ua or "chromium/" in ua:
        return "Chrome"
    if "safari/" in ua and ("version/" in ua or "mobile/" in ua):
        return "Safari"
    return "Other"
