"""The recorded lab runs in tests/lab/data: real runs of each workload on 6.18 (kvm_pvm)."""

import lzma
from pathlib import Path

from mmuspec.lab.run import analyse, options_of
from mmuspec.lab.vmm_output import parse_vmm_output

DATA = Path(__file__).resolve().parent / "data"
WORKLOADS = ("ksm-merge", "cow-break", "zap", "aging", "memslot")
KERNEL = "6.18.44-fc-v1300"
HOST = "AMD EPYC, kvm_pvm, shadow MMU (tdp_mmu=N)"


def trace_path(workload):
    return DATA / workload / "trace.txt.xz"


def trace_text(workload):
    return lzma.decompress(trace_path(workload).read_bytes()).decode()


def vmm_run(workload):
    return parse_vmm_output(lzma.decompress((DATA / workload / "vmm.txt.xz").read_bytes()).decode())


def header(workload):
    first = trace_text(workload).splitlines()[0]
    return dict(p.split("=", 1) for p in first.split() if "=" in p)


def analysed(workload, run=None, trace=None):
    run = run or vmm_run(workload)
    h = header(workload)
    return analyse(options_of(run, h), trace or trace_path(workload), run, era=h["era"], kernel=KERNEL, host=HOST)
