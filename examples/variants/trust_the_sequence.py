"""The fault path trusts mmu_notifier_seq alone and ignores mmu_notifier_count.

A tempting simplification ("end() bumps the sequence anyway"), and wrong: a
fault that looks the page up after start() zapped the SPTE but before end()
bumped the sequence sees an unchanged sequence and maps the old page.

Try it:  mmuspec check zap --variant examples/variants/trust_the_sequence.py
"""


def mmu_notifier_retry(k, s, mmu_seq):
    return s[k.L.SEQ] != mmu_seq


# x86 compares the fault's address with the invalidated range since v5.12 (hva) and v6.8
# (gfn); the same simplification there.
def mmu_notifier_retry_hva(k, s, mmu_seq, hva):
    return s[k.L.SEQ] != mmu_seq


def mmu_invalidate_retry_gfn(k, s, mmu_seq, gfn):
    return s[k.L.SEQ] != mmu_seq
