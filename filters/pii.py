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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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

# RE2 supersets of the patterns above, to screen whole Arrow columns in C++: each is its pattern's body
# without the look-arounds (they only narrow a match), with Python's Unicode `\d` spelled `\p{Nd}`.
# A string none of them matches has nothing to mask; only the rest go through Python's `re`.
_D = r"\p{Nd}"
SCREEN = {
    "email": r"[A-Za-z0-9._%+-]@[A-Za-z0-9-]",  # the character before `@` and the first of the domain
    "ip": rf"{_D}{{1,3}}\.{_D}{{1,3}}\.{_D}{{1,3}}\.{_D}{{1,3}}|:[0-9A-Fa-f]{{0,4}}:",  # IPv4 | IPv6's ":x:"
    "phone": (
        rf"\+{_D}{{1,3}}[ .-]?(?:\({_D}{{1,4}}\)[ .-]?)?{_D}{{1,4}}(?:[ .-]{_D}{{2,4}}){{2,4}}"
        rf"|\({_D}{{3}}\)[ ]?{_D}{{3}}[-.]{_D}{{4}}"
        rf"|{_D}{{3}}[-.]{_D}{{3}}[-.]{_D}{{4}}"
    ),
}
JSON_ESCAPE = r"\\u"  # a conversation's JSON may escape a character (\u0040 is "@"): screened in, mask_json decodes it


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
        c = self.config
        screens = [SCREEN[kind] for kind, on in (("email", c.email), ("ip", c.ip), ("phone", c.phone)) if on]
        self.screen = "|".join(screens) or None

    def candidates(self, values: pa.Array, conversations: bool = False) -> np.ndarray:
        """Which strings of `values` may hold something to mask (a superset; nulls never do)."""
        if self.screen is None:
            return np.zeros(len(values), dtype=bool)
        pattern = f"{self.screen}|{JSON_ESCAPE}" if conversations else self.screen
        hits = pc.match_substring_regex(values, pattern)
        return hits.fill_null(False).to_numpy(zero_copy_only=False)

    def mask_array(self, values: pa.Array, conversations: bool = False) -> tuple[pa.Array, dict[int, Counter]]:
        """`mask` (`mask_json` for conversations) over a string column: the masked column and, per row
        index that had any, its counts. Only the screened-in rows are decoded to Python."""
        hits = self.candidates(values, conversations)
        rows = np.flatnonzero(hits)
        if not len(rows):
            return values, {}
        mask_one = self.mask_json if conversations else self.mask
        masked, counts = [], {}
        for i, value in zip(rows.tolist(), values.take(pa.array(rows)).to_pylist()):
            new, n = mask_one(value)
            masked.append(new)
            if n:
                counts[i] = n
        return pc.replace_with_mask(values, pa.array(hits), pa.array(masked, values.type)), counts

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
