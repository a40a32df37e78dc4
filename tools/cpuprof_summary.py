#!/usr/bin/env python3
"""Summarises a V8 .cpuprofile (node --cpu-prof): the functions with the most self time, over the
whole run and within the calls of one function (default: ModelRunner.recordForward, i.e. the CPU
time to record a step). Usage: cpuprof_summary.py PROFILE [ROOT_PREFIX] [TOP]"""
import collections
import json
import sys


def main() -> None:
    path = sys.argv[1]
    root = sys.argv[2] if len(sys.argv) > 2 else 'recordForward model_runner.js'
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    p = json.load(open(path))
    nodes = {n['id']: n for n in p['nodes']}
    parent = {c: n['id'] for n in p['nodes'] for c in n.get('children', [])}

    def name(n: dict) -> str:
        cf = n['callFrame']
        return f"{cf['functionName'] or '(anon)'} {cf['url'].split('/')[-1]}:{cf['lineNumber']}"

    ticks: collections.Counter = collections.Counter()
    for s, d in zip(p['samples'], p['timeDeltas']):
        ticks[s] += d

    def under(nid: int) -> bool:
        while True:
            if name(nodes[nid]).startswith(root):
                return True
            if nid not in parent:
                return False
            nid = parent[nid]

    for title, keep in (('whole run', lambda nid: True), (f'within {root}', under)):
        self_us: collections.Counter = collections.Counter()
        for nid, dt in ticks.items():
            if keep(nid):
                self_us[name(nodes[nid])] += dt
        total = sum(self_us.values()) or 1
        print(f'== {title}: {total / 1e3:.1f} ms sampled')
        for k, v in self_us.most_common(top):
            print(f'{v / 1e3:9.1f} ms {100 * v / total:5.1f}%  {k}')


if __name__ == '__main__':
    main()
