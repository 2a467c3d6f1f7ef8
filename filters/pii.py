"""PII masking: e-mail addresses, IP addresses and (formatted) phone numbers, counted per type.

- e-mail: local@domain.tld with a letter TLD of 2+ characters.
- IP: IPv4 dotted quads (each octet 0-255, not part of a longer dotted/digit run, so version
  numbers like 1.2.3.4.5 are left alone) and IPv6 validated by `ipaddress`; by default only
  public addresses are masked (loopback, private, link-local, documentation ranges are not PII).
- phone: only shapes that are reliably phone numbers: `+<country> ...` with separators, or the
  North American `(555) 123-4567` / `555-123-4567` / `555.123.4567` forms. Bare digit runs are
  never masked: in math and code they are numbers, not phones.
Conversations are masked inside every string of their JSON (contents, tool arguments, results).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter

from pydantic import BaseModel, Field

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}(?![\w-])")
IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:]|\.\w)")  # validated by ipaddress
PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]\d{2,4}){2,4}"  # international: +44 20 7946 0958
    r"|\(\d{3}\)[ ]?\d{3}[-.]\d{4}"  # (555) 123-4567
    r"|\d{3}[-.]\d{3}[-.]\d{4}"  # 555-123-4567
    r")(?![\w-])"
)


class PIIConfig(BaseModel):
    email: bool = True
    ip: bool = True
    phone: bool = True
    public_ips_only: bool = Field(True, description="leave loopback/private/reserved addresses alone")
    email_token: str = "<EMAIL>"
    ip_token: str = "<IP_ADDRESS>"
    phone_token: str = "<PHONE>"


def _ip_is_pii(addr: str, public_only: bool) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    if not public_only:
        return True
    return ip.is_global and not ip.is_multicast


class PIIMasker:
    """`mask(text) -> (masked text, {type: count})`."""

    def __init__(self, config: PIIConfig | None = None):
        self.config = config or PIIConfig()

    def mask(self, text: str) -> tuple[str, Counter]:
        c = self.config
        counts: Counter = Counter()
        if not text:
            return text, counts
        if c.email and "@" in text:
            text, n = EMAIL.subn(c.email_token, text)
            counts["email"] += n

        def ip(m):
            if _ip_is_pii(m.group(0), c.public_ips_only):
                counts["ip"] += 1
                return c.ip_token
            return m.group(0)

        if c.ip and "." in text:
            text = IPV4.sub(ip, text)
        if c.ip and ("::" in text or text.count(":") >= 3):
            text = IPV6.sub(ip, text)
        if c.phone:
            text, n = PHONE.subn(c.phone_token, text)
            counts["phone"] += n
        return text, +counts

    def mask_json(self, value: str | None) -> tuple[str | None, Counter]:
        """Mask every string inside a JSON document; the original string comes back when nothing matched."""
        if not value:
            return value, Counter()
        try:
            obj = json.loads(value)
        except (json.JSONDecodeError, TypeError):
            return self.mask(value)
        total: Counter = Counter()

        def walk(v):
            if isinstance(v, str):
                masked, n = self.mask(v)
                total.update(n)
                return masked
            if isinstance(v, list):
                return [walk(x) for x in v]
            if isinstance(v, dict):
                return {k: walk(x) for k, x in v.items()}
            return v

        masked = walk(obj)
        if not total:
            return value, total
        return json.dumps(masked, ensure_ascii=False, sort_keys=True, separators=(",", ":")), total
