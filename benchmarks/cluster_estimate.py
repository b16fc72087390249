"""What a partitioned search would cost on a real cluster, from a measured local one.

It runs `--partitions N` (Dask actors on local processes, or Ray actors on a local Ray
with --backend ray) on one configuration and
measures what the cost model needs: states per second per process, bytes sent between
processes per transition, bytes each process holds per state it owns, and the number of
levels (each level is two rounds of messages).  Then it applies the model to a cluster
named on the command line and prints the estimate for a search of --states states:

    compute  = states / (rate per process x processes)
    network  = transitions x bytes sent per transition x (P - 1) / P / (nodes x link bandwidth)
    memory   = states x bytes held per state / nodes              (must fit in a node's RAM)
    rounds   = levels x 2 x round-trip time
    time     = max(compute, network) + rounds                     (expansion and sending overlap)

Everything measured is measured here, on this machine, in this run, and printed; the
cluster's figures (nodes, cores, bandwidth, RAM, round trip) are assumptions, printed as
such.  The transitions per state and the levels of the big search are assumed to be those
of the measured one (these grow slowly with the size of a configuration).

    python benchmarks/cluster_estimate.py                         # 2 and 4 partitions, 10^10 states
    python benchmarks/cluster_estimate.py --backend ray           # the same, measured on Ray actors
    python benchmarks/cluster_estimate.py --nodes 16 --cores 32 --gbit 12.5 --ram-gb 64
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os

from mmuspec.checking import CheckSpec, Reductions, build_kernel
from mmuspec.explore.cluster import ray_session
from mmuspec.explore.partitioned import partitioned_bfs
from mmuspec.model import load_scenario
from mmuspec.native.search import NativeKernel, build_native_kernel, load


def measure(vcpus: int, accesses: int, era: str, partitions: int, address: str | None) -> dict[str, float]:
    spec = CheckSpec(load_scenario("ksm-merge").scaled(vcpus, accesses), era)
    kernel = build_kernel(spec, Reductions())
    native = load(kernel)
    factory = functools.partial(build_native_kernel, functools.partial(build_kernel, spec, Reductions()),
                                native.built.path.read_bytes())
    before = os.times()
    result, parts = partitioned_bfs(NativeKernel(kernel, native), factory, partitions=partitions, address=address,
                                    symmetry=True, por=True)
    after = os.times()
    sent = sum(p["sent_bytes"] for p in parts)
    held = sum(p["table_bytes"] + p["link_bytes"] + p["frontier_bytes"] for p in parts)
    driver_cpu = after.user - before.user + after.system - before.system
    return {"states": result.states, "transitions": result.transitions, "levels": result.depth + 1,
            "seconds": result.seconds, "rate_per_process": result.states / result.seconds / partitions,
            "sent_per_transition": sent / result.transitions / ((partitions - 1) / partitions) if partitions > 1
            else 0.0, "held_per_state": held / result.states, "driver_cpu": driver_cpu,
            "max_share": max(p["states"] for p in parts) / result.states, "width": kernel.L.size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vcpus", type=int, default=3)
    parser.add_argument("--accesses", type=int, default=3)
    parser.add_argument("--era", default="5.13")
    parser.add_argument("--partitions", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--backend", choices=("dask", "ray"), default="dask",
                        help="actors measured: Dask's (a LocalCluster per run, default) or Ray's (one local Ray)")
    parser.add_argument("--states", type=float, default=1e10, help="states of the search to estimate (default 1e10)")
    parser.add_argument("--nodes", type=int, default=16, help="cluster nodes (assumed; default 16)")
    parser.add_argument("--cores", type=int, default=32, help="partitions per node (assumed; default 32)")
    parser.add_argument("--gbit", type=float, default=12.5, help="network per node, Gbit/s (assumed; default 12.5)")
    parser.add_argument("--ram-gb", type=float, default=64.0, help="RAM per node, GB (assumed; default 64)")
    parser.add_argument("--rtt-ms", type=float, default=0.5, help="round trip, ms (assumed; default 0.5)")
    args = parser.parse_args()
    print(f"measured here ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}), ksm-merge {args.era} "
          f"{args.vcpus}x{args.accesses}, {args.backend} actors:")
    print("| partitions | states | transitions | levels | s | states/s per process | bytes sent per transition "
          "(between processes) | bytes held per state | largest share |")
    print("|" + "---|" * 9)
    runs: list[dict[str, float]] = []
    address = "ray:local" if args.backend == "ray" else None
    with ray_session("ray:local", max(args.partitions)) if address else contextlib.nullcontext():
        for count in args.partitions:
            m = measure(args.vcpus, args.accesses, args.era, count, address)
            print(f"| {count} | {m['states']:,.0f} | {m['transitions']:,.0f} | {m['levels']:.0f} | {m['seconds']:.1f} "
                  f"| {m['rate_per_process']:,.0f} | {m['sent_per_transition']:.1f} | {m['held_per_state']:.1f} "
                  f"| {m['max_share']:.3f} |", flush=True)
            runs.append({**m, "partitions": count})
    # A cluster runs one partition per core: the rate is taken from a run with no more
    # processes than this machine has cores (more share the cores), the bytes from the
    # run with the most partitions (the largest share of successors travels).
    fair = [m for m in runs if m["partitions"] <= (os.cpu_count() or 1)] or runs
    last = {**runs[-1], "rate_per_process": max(m["rate_per_process"] for m in fair)}
    print(f"rate per process from the {max(fair, key=lambda m: m['rate_per_process'])['partitions']:.0f}-partition run "
          f"(no more processes than cores); bytes from the {runs[-1]['partitions']:.0f}-partition run")
    processes = args.nodes * args.cores
    states = args.states
    transitions = states * last["transitions"] / last["states"]
    compute = states / (last["rate_per_process"] * processes)
    network = transitions * last["sent_per_transition"] * (processes - 1) / processes / (
        args.nodes * args.gbit * 1e9 / 8)
    memory = states * last["held_per_state"] / args.nodes / 1e9
    rounds = last["levels"] * 2 * args.rtt_ms / 1000
    print()
    print(f"assumed cluster: {args.nodes} nodes x {args.cores} partitions, {args.gbit} Gbit/s and {args.ram_gb:.0f} GB "
          f"each, {args.rtt_ms} ms round trip (e.g. {args.nodes} AWS c6i.8xlarge: 32 vCPU, 64 GiB, up to 12.5 Gbit/s)")
    print(f"estimate for {states:.0e} states ({transitions:.2e} transitions, the measured "
          f"{last['transitions'] / last['states']:.2f} per state):")
    print(f"  compute {compute / 60:,.1f} min at the measured {last['rate_per_process']:,.0f} states/s per process")
    print(f"  network {network / 60:,.1f} min at {last['sent_per_transition']:.1f} bytes per transition")
    print(f"  memory  {memory:,.1f} GB per node at {last['held_per_state']:.1f} bytes per state "
          f"({'fits' if memory < args.ram_gb * 0.8 else 'does NOT fit'} in {args.ram_gb:.0f} GB)")
    print(f"  rounds  {rounds:.2f} s for the measured {last['levels']:.0f} levels")
    print(f"  total   about {(max(compute, network) + rounds) / 60:,.1f} min; limited by "
          f"{'the network' if network > compute else 'expansion'}")


if __name__ == "__main__":
    main()
