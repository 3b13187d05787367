#!/usr/bin/env python3
"""Checks that a crate has no import cycle: between top-level modules and
between files. Run from the repository root:
    scripts/layers.py                      # the library: src/ without src/bin
    scripts/layers.py src/bin/timeoutsock  # the wrapper (crate root main.rs)
Exit 1 when a cycle is found."""
import re,os,sys,collections
root=sys.argv[1].rstrip('/') if len(sys.argv)>1 else 'src'
mods={}
for dp,dn,fn in os.walk(root):
    if root=='src' and dp.startswith('src/bin'): continue
    for f in fn:
        if f.endswith('.rs'):
            p=os.path.join(dp,f)
            rel=p[len(root)+1:-3]
            if rel.endswith('/mod'): rel=rel[:-4]
            if rel in ('lib','main'): continue
            mods[rel.replace('/','::')]=p
def top(m): return m.split('::')[0]
edges=collections.defaultdict(set); fedges=collections.defaultdict(set)
for m,p in mods.items():
    src=open(p).read()
    src=re.sub(r'#\[cfg\(test\)\]\s*mod tests\s*\{.*','',src,flags=re.S)
    for u in re.findall(r'crate::([a-z_]+(?:::[a-z_]+)*)',src):
        parts=u.split('::')
        # longest module prefix
        tgt=None
        for k in range(len(parts),0,-1):
            c='::'.join(parts[:k])
            if c in mods: tgt=c;break
        if tgt is None: continue
        if top(tgt)!=top(m): edges[top(m)].add(top(tgt))
        if tgt!=m and not m.startswith(tgt+'::') : fedges[m].add(tgt)
    # super:: uses inside a folder
    for u in re.findall(r'\bsuper::([a-z_]+)',src):
        par='::'.join(m.split('::')[:-1])
        c=(par+'::'+u) if par else u
        if c in mods and c!=m: fedges[m].add(c)
def cycles(E,name):
    color={};stack=[];found=[]
    def dfs(v):
        color[v]=1;stack.append(v)
        for w in sorted(E.get(v,())):
            if color.get(w)==1: found.append(stack[stack.index(w):]+[w])
            elif not color.get(w): dfs(w)
        stack.pop();color[v]=2
    for v in sorted(set(E)|{x for s in E.values() for x in s}):
        if not color.get(v): dfs(v)
    print(name, 'cycles:', found if found else 'none')
    return bool(found)
bad=cycles(edges,'top-level modules') | cycles(fedges,'files')
for k in sorted(edges): print(' ',k,'->',' '.join(sorted(edges[k])))
sys.exit(1 if bad else 0)
