#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""profile.md from scripts/pvl-profile.sh's console logs: for each profiled
run, the share of the guest's CPU time (perf cpu-clock samples, all CPUs)
in each kind of work, busy time only (idle taken out), beside records/s,
TLB-shootdown interrupts per record; then each run's top
symbols.  The kinds are symbol patterns, first match wins; what matches
none is "other kernel" or "user"."""
import glob
import json
import os
import re
import sys

# (kind, regex over the symbol name); kernel symbols only.
KINDS = [
    ("idle", r"^(default_idle|.*safe_halt|do_idle|cpu_idle.*|poll_idle|mwait.*|"
             r"acpi_idle.*|default_idle_call|arch_cpu_idle.*)$"),
    ("trap/syscall entry+exit", r"^(asm_exc_page_fault|exc_page_fault|irqentry_.*|error_entry|"
                                r"error_return|entry_SYSCALL.*|entry_SYSRETQ.*|do_syscall_64|"
                                r"syscall_exit.*|exit_to_user_mode.*|"
                                r"syscall_return_via_sysret|restore_regs_and_return.*|"
                                r"native_iret|__x64_sys_ioctl|x64_sys_call|"
                                r"syscall_enter_from_user_mode.*|fpregs_restore.*|"
                                r"switch_fpu_return|restore_fpregs_from_fpstate|"
                                # the ioctl's command in and out
                                r"rep_movs_alternative|_copy_from_user|_copy_to_user|"
                                r"copy_user_.*)$"),
    ("page zeroing", r"^(clear_page.*|kernel_init_pages|.*clear_highpage.*|"
                     r"folio_zero_user|clear_user_page)$"),
    ("page alloc/free", r"^(get_page_from_freelist|__alloc_pages.*|alloc_pages.*|rmqueue.*|"
                        r"free_unref_.*|free_pcppages_bulk|__free_pages.*|free_pages.*|"
                        r"release_pages|__folio_alloc.*|vma_alloc_folio.*|folio_alloc.*|"
                        r"__free_one_page|free_one_page|__rmqueue.*|prep_new_page|"
                        r"post_alloc_hook|__mod_zone_page_state|__mod_.*lruvec.*|"
                        r"lru_.*|folio_add_lru.*|folio_batch_move_lru|__page_cache_release|"
                        r"__folio_put|folio_.*lru.*|tlb_batch_pages_flush|"
                        r"free_pages_and_swap_cache|__tlb_batch_free_encoded_pages|"
                        r"mem_cgroup.*|__count_memcg_events|__mod_memcg.*)$"),
    ("TLB flush + IPIs", r"^(flush_tlb_.*|native_flush_tlb.*|smp_call_function.*|"
                         r"__flush_smp_call_function_queue|generic_smp_call_function.*|"
                         r"sysvec_call_function.*|asm_sysvec_call_function.*|"
                         r"__sysvec_call_function.*|default_send_IPI.*|.*send_IPI.*|"
                         r"native_send_call_func.*|send_call_function.*|llist_.*|"
                         r"tlb_finish_mmu|tlb_flush_mmu.*|flush_tlb_func|"
                         r"on_each_cpu_cond_mask|invlpg.*|__flush_tlb.*|"
                         r"smm_host_shootdown|smm_tlb_.*|tlb_shootdown|smm_gather_.*|"
                         r"shadowmm_tlb_.*|csd_.*)$"),
    ("mmap lock", r"^(down_write.*|up_write|down_read.*|up_read|rwsem_.*|osq_.*|"
                  r"__down_.*|__up_.*|mmap_.*lock.*|lock_mm_and_find_vma|"
                  r"downgrade_write|__rwsem_.*|smm_mmap_.*)$"),
    ("per-VMA lock + maple tree", r"^(lock_vma_under_rcu|vma_start_.*|__vma_start_write|"
                                  r"vma_end_read|vma_.*lock.*|mas_.*|mt_.*|mtree_.*|"
                                  r"mab_.*|mast_.*|ma_.*)$"),
    ("RCU", r"^(rcu_.*|__call_rcu.*|call_rcu.*|kvfree_call_rcu|note_gp_changes|"
            r"__rcu_.*|invoke_rcu.*|rcu_core.*|kfree_rcu.*)$"),
    ("scheduler, futex, wakeups", r"^(schedule.*|__schedule|pick_next.*|finish_task_switch.*|"
                                  r"try_to_wake_up|futex_.*|__futex.*|.*enqueue_.*|"
                                  r".*dequeue_.*|update_curr.*|__switch_to.*|"
                                  r"switch_mm.*|wake_up.*|ttwu_.*|select_task_rq.*|"
                                  r"psi_.*|set_next_entity|put_prev.*|newidle_balance|"
                                  r"load_balance|update_.*load.*)$"),
    ("fault + page tables", r"^(handle_mm_fault|__handle_mm_fault|do_anonymous_page|"
                            r"do_user_addr_fault|handle_pte_fault|.*pte_alloc.*|"
                            r"__pmd_alloc|__pud_alloc|unmap_.*|zap_.*|free_pgtables|"
                            r"free_pgd_range|free_p.d_range|pte_.*|pmd_.*|set_pte.*|"
                            r"folio_add_new_anon_rmap|__folio_.*rmap.*|folio_.*rmap.*|"
                            r"anon_vma_.*|__anon_vma_prepare|page_remove_rmap|"
                            r"___pte_free_tlb|pgd_.*|p4d_.*|pud_.*|"
                            r"vmf_anon_prepare|count_vm_event|__count_vm_events)$"),
    ("mmap/munmap work", r"^(do_mmap|mmap_region|__mmap_region|vma_.*|vm_area_.*|do_vmi_.*|"
                         r"vms_.*|__split_vma|split_vma|get_unmapped_area|"
                         r"arch_get_unmapped_area.*|unmapped_area.*|vm_unmapped_area|"
                         r"ksys_mmap_pgoff|vm_mmap_pgoff|__vm_munmap|__x64_sys_munmap|"
                         r"__x64_sys_mmap|__x64_sys_mprotect|mprotect_fixup|do_mprotect_pkey|"
                         r"change_p.*_range|change_protection|remove_vma|"
                         r"kmem_cache_.*|kmalloc.*|kfree|__kmalloc.*|__slab_.*|"
                         r"___slab_alloc|slab_.*|security_.*|perf_event_mmap.*|"
                         r"userfaultfd_.*|may_expand_vm|__get_unmapped_area)$"),
]


def kind_of(sym, kernel):
    if not kernel:
        return "user"
    for name, rx in KINDS_RX:
        if rx.match(sym):
            return name
    if sym.startswith(("smm_", "shadowmm_")):
        return "module core"
    return "other kernel"


KINDS_RX = [(n, re.compile(r)) for n, r in KINDS]
ORDER = [k for k, _ in KINDS if k != "idle"] + ["module core", "other kernel", "user"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LINE = re.compile(r"^\s*([0-9.]+)%\s+\[([k.])\]\s+(\S+)")


def parse(log):
    """{run name: {"header": {k: v}, "syms": [(pct, kernel?, sym)]}}"""
    runs, cur = {}, None
    for raw in open(log, errors="replace"):
        # perf's terminal escapes reach the serial console too.
        line = ANSI.sub("", raw.rstrip("\r\n").replace("\r", ""))
        m = re.search(r"SHADOWMM-PROFILE-BEGIN (\S+)(.*)", line)
        if m:
            cur = runs.setdefault(m.group(1), {"header": dict(
                kv.split("=", 1) for kv in m.group(2).split() if "=" in kv), "syms": []})
            continue
        if "SHADOWMM-PROFILE-END" in line:
            cur = None
            continue
        if cur is not None:
            s = LINE.match(line)
            if s:
                cur["syms"].append((float(s.group(1)), s.group(2) == "k", s.group(3)))
    return runs


def main(out):
    runs = {}
    for log in sorted(glob.glob(f"{out}/pvl-*-console.log")):
        runs.update(parse(log))
    if not runs:
        sys.exit(f"pvl-profile-report: no profile in {out}")
    machine = open(f"{out}/machine.txt").read().strip().splitlines() \
        if os.path.exists(f"{out}/machine.txt") else []
    md = ["## Where the time goes: ebizzy -mTRp in the per-VMA-lock A/B guests (perf)\n",
          "; ".join(machine) + ".  One run each, perf cpu-clock samples of every CPU; "
          "shares are of the busy (not idle) samples, kinds by symbol "
          "(`scripts/pvl-profile-report.py`).  *TLB irqs/rec*: the guest kernel's TLB "
          "shootdown interrupts (/proc/interrupts) per record; the module's own shootdowns "
          "are IPIs too but counted there as function-call interrupts (its JSON has "
          "`tlb_ipi`).  A sketch: one run per row.\n"]
    names = sorted(runs)
    head = ["run", "records/s", "busy", "TLB irqs/rec"] + ORDER
    md += ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    tops = []
    for name in names:
        r = runs[name]
        shares = {}
        idle = 0.0
        for pct, kernel, sym in r["syms"]:
            k = kind_of(sym, kernel)
            if k == "idle":
                idle += pct
            else:
                shares[k] = shares.get(k, 0.0) + pct
        busy = sum(shares.values())
        rate, records = None, None
        path = f"{out}/{name}.json"
        if os.path.exists(path):
            run = json.load(open(path))["runs"][0]
            rate, records = run.get("records_per_s"), run.get("records")
        per = (lambda v: f"{int(v) / records:.3f}" if records and v is not None else "-")
        cells = [name, f"{rate:,.0f}" if rate else "-", f"{busy:.0f}%",
                 per(r["header"].get("tlb_irqs"))]
        cells += [f"{100 * shares.get(k, 0) / busy:.1f}%" if busy else "-" for k in ORDER]
        md.append("| " + " | ".join(cells) + " |")
        top = sorted((s for s in r["syms"] if kind_of(s[2], s[1]) != "idle"), reverse=True)[:12]
        tops.append(f"- **{name}**: " + ", ".join(
            f"{sym} {100 * pct / busy:.1f}%" for pct, _, sym in top) if busy else f"- {name}: -")
    md += ["", "Top symbols (share of busy samples):", ""] + tops + [""]
    print("\n".join(md))


if __name__ == "__main__":
    main(sys.argv[1])
