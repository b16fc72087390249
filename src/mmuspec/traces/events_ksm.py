"""The ksm tracepoints of include/trace/events/ksm.h.

Added by "mm: add tracepoints to ksm" (Stefan Roesch, Feb 2023, v6.4 [I]);
ksm_advisor came with the scan-time advisor (Dec 2023, v6.8 [I]).  No format
has changed since.  pfns are decimal (%lu); pointers are hashed %p.
"""

from __future__ import annotations

from mmuspec.traces.tracepoint import PTR, Format, dec, table

H = "include/trace/events/ksm.h"
V = "v6.4+ [I]"
CONV = {"seq": dec, "rmap_size": dec, "pfn": dec, "error": dec, "scan_time": dec, "pages_to_scan": dec,
        "cpu_percent": dec, "ksm": lambda s: bool(s.strip())}
ITEM = rf"rmap_item (?P<rmap_item>{PTR}) mm (?P<mm>{PTR})"

FORMATS = table(
    Format("ksm_start_scan", "seq", H, V, "seq %d rmap size %d",
           r"seq (?P<seq>-?\d+) rmap size (?P<rmap_size>-?\d+)", CONV, since="6.3"),
    Format("ksm_stop_scan", "seq", H, V, "seq %d rmap size %d",
           r"seq (?P<seq>-?\d+) rmap size (?P<rmap_size>-?\d+)", CONV, since="6.3"),
    Format("ksm_enter", "mm", H, V, "mm %p", rf"mm (?P<mm>{PTR})", CONV, since="6.3"),
    Format("ksm_exit", "mm", H, V, "mm %p", rf"mm (?P<mm>{PTR})", CONV, since="6.3"),
    Format("ksm_merge_one_page", "pfn", H, V, "ksm pfn %lu rmap_item %p mm %p error %d",
           rf"ksm pfn (?P<pfn>\d+) {ITEM} error (?P<error>-?\d+)", CONV, since="6.3"),
    Format("ksm_merge_with_ksm_page", "pfn", H, V, "%spfn %lu rmap_item %p mm %p error %d",
           rf"(?P<ksm>ksm )?pfn (?P<pfn>\d+) {ITEM} error (?P<error>-?\d+)", CONV, since="6.3"),
    Format("ksm_remove_ksm_page", "pfn", H, V, "pfn %lu", r"pfn (?P<pfn>\d+)", CONV, since="6.3"),
    Format("ksm_remove_rmap_item", "pfn", H, V, "pfn %lu rmap_item %p mm %p",
           rf"pfn (?P<pfn>\d+) {ITEM}", CONV, since="6.3"),
    Format("ksm_advisor", "scan-time", H, "v6.8+ [I]", "ksm scan time %lld pages_to_scan %lu cpu percent %u",
           r"ksm scan time (?P<scan_time>-?\d+) pages_to_scan (?P<pages_to_scan>\d+) cpu percent (?P<cpu_percent>\d+)",
           CONV, since="6.7"),
)
