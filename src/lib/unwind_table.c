// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * unwind_table.c - compile .eh_frame (and .debug_frame) CFI into the rows of
 * struct mo_unwind_row. libdw evaluates the CFI; this file only enumerates
 * the FDEs, asks libdw for each row of each FDE and translates the rules.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safefile.h"
#include "unwind_table.h"

#define REG_RBP 6
#define REG_RSP 7
#define REG_RA 16
#define PAGE_MASK (~(uint64_t)0xfff)

/* Pointer encodings of .eh_frame_hdr and CIE augmentations (LSB ABI). */
#define PE_OMIT 0xff
#define PE_FORMAT 0x0f
#define PE_APPL 0x70
#define PE_INDIRECT 0x80
#define PE_ABSPTR 0x00
#define PE_ULEB128 0x01
#define PE_UDATA2 0x02
#define PE_UDATA4 0x03
#define PE_UDATA8 0x04
#define PE_SLEB128 0x09
#define PE_SDATA2 0x0a
#define PE_SDATA4 0x0b
#define PE_SDATA8 0x0c
#define PE_PCREL 0x10
#define PE_DATAREL 0x30

/* An FDE's pc range; end is UINT64_MAX when only the start is known (the
 * .eh_frame_hdr table) and the walk finds where its rows stop. */
struct fde_span {
	uint64_t start;
	uint64_t end;
};

struct span_vec {
	struct fde_span *v;
	size_t n, cap;
};

struct builder {
	struct mo_unwind_row *rows;
	size_t n, cap;
	uint64_t vaddr_min;
	size_t unsupported;
};

static int span_push(struct span_vec *s, uint64_t start, uint64_t end)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct fde_span *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = (struct fde_span){ start, end };
	return 0;
}

static int row_push(struct builder *b, const struct mo_unwind_row *row)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		struct mo_unwind_row *v = realloc(b->rows, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		b->rows = v;
		b->cap = cap;
	}
	b->rows[b->n++] = *row;
	return 0;
}

static int read_uleb(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	unsigned int shift = 0;

	while (*p < end) {
		uint8_t byte = *(*p)++;

		if (shift < 64)
			v |= (uint64_t)(byte & 0x7f) << shift;
		shift += 7;
		if (!(byte & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -EINVAL;
}

static int read_sleb(const uint8_t **p, const uint8_t *end, int64_t *out)
{
	uint64_t v = 0;
	unsigned int shift = 0;

	while (*p < end) {
		uint8_t byte = *(*p)++;

		if (shift < 64)
			v |= (uint64_t)(byte & 0x7f) << shift;
		shift += 7;
		if (!(byte & 0x80)) {
			if (shift < 64 && (byte & 0x40))
				v |= ~(uint64_t)0 << shift;
			*out = (int64_t)v;
			return 0;
		}
	}
	return -EINVAL;
}

static int read_fixed(const uint8_t **p, const uint8_t *end, size_t size,
		      bool is_signed, uint64_t *out)
{
	uint64_t v = 0;

	if ((size_t)(end - *p) < size)
		return -EINVAL;
	/* Little-endian only: the file was checked to be x86-64. */
	memcpy(&v, *p, size);
	if (is_signed && size < 8 && (v >> (size * 8 - 1)) & 1)
		v |= ~(uint64_t)0 << (size * 8);
	*p += size;
	*out = v;
	return 0;
}

/*
 * Decode one encoded pointer at *p. field_vaddr is the vaddr of *p (for
 * pcrel), data_base the base of datarel. Indirect and text/func-relative
 * pointers never describe FDE locations on x86-64 and are rejected.
 */
static int read_encoded(const uint8_t **p, const uint8_t *end, uint8_t enc,
			uint64_t field_vaddr, uint64_t data_base, uint64_t *out)
{
	uint64_t v = 0;
	int64_t sv = 0;
	int err;

	if (enc == PE_OMIT || (enc & PE_INDIRECT))
		return -EINVAL;
	switch (enc & PE_FORMAT) {
	case PE_ABSPTR:
	case PE_UDATA8:
		err = read_fixed(p, end, 8, false, &v);
		break;
	case PE_SDATA8:
		err = read_fixed(p, end, 8, true, &v);
		break;
	case PE_UDATA2:
		err = read_fixed(p, end, 2, false, &v);
		break;
	case PE_SDATA2:
		err = read_fixed(p, end, 2, true, &v);
		break;
	case PE_UDATA4:
		err = read_fixed(p, end, 4, false, &v);
		break;
	case PE_SDATA4:
		err = read_fixed(p, end, 4, true, &v);
		break;
	case PE_ULEB128:
		err = read_uleb(p, end, &v);
		break;
	case PE_SLEB128:
		err = read_sleb(p, end, &sv);
		v = (uint64_t)sv;
		break;
	default:
		return -EINVAL;
	}
	if (err)
		return err;
	switch (enc & PE_APPL) {
	case 0:
		break;
	case PE_PCREL:
		v += field_vaddr;
		break;
	case PE_DATAREL:
		v += data_base;
		break;
	default:
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int read_layout(Elf *elf, struct mo_unwind_table *t)
{
	size_t phnum;
	bool have_load = false, have_text = false;

	if (elf_getphdrnum(elf, &phnum))
		return -ENOEXEC;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (!have_load || (ph.p_vaddr & PAGE_MASK) < t->vaddr_min)
			t->vaddr_min = ph.p_vaddr & PAGE_MASK;
		have_load = true;
		if ((ph.p_flags & PF_X) && !have_text) {
			t->off_to_vaddr = (int64_t)(ph.p_vaddr - ph.p_offset);
			have_text = true;
		}
	}
	return have_text ? 0 : -ENOEXEC;
}

/* .eh_frame_hdr through PT_GNU_EH_FRAME, which stripped files keep too. */
static Elf_Data *eh_frame_hdr(Elf *elf, uint64_t *vaddr)
{
	size_t phnum;
	GElf_Phdr ph;

	if (elf_getphdrnum(elf, &phnum))
		return NULL;
	for (size_t i = 0; i < phnum; i++) {
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_GNU_EH_FRAME) {
			*vaddr = ph.p_vaddr;
			return elf_getdata_rawchunk(elf, (int64_t)ph.p_offset,
						    ph.p_filesz, ELF_T_BYTE);
		}
	}
	return NULL;
}

/* FDE start addresses from the binary search table of .eh_frame_hdr;
 * -ENOENT when there is no usable table. */
static int hdr_fde_starts(Elf *elf, struct span_vec *spans)
{
	uint64_t hdr = 0, eh_frame, count, loc, fde;
	Elf_Data *d = eh_frame_hdr(elf, &hdr);
	const uint8_t *base, *p, *end;
	int err;

	if (!d || d->d_size < 4)
		return -ENOENT;
	base = d->d_buf;
	p = base + 4;
	end = base + d->d_size;
	/* version, then the encodings of eh_frame_ptr, fde_count and table */
	if (base[0] != 1 || base[2] == PE_OMIT || base[3] == PE_OMIT)
		return -ENOENT;
	/* eh_frame_ptr is only stepped over: libdw locates .eh_frame itself */
	if (read_encoded(&p, end, base[1], hdr + (uint64_t)(p - base), hdr,
			 &eh_frame) ||
	    read_encoded(&p, end, base[2], hdr + (uint64_t)(p - base), hdr,
			 &count))
		return -ENOENT;
	for (uint64_t i = 0; i < count; i++) {
		if (read_encoded(&p, end, base[3], hdr + (uint64_t)(p - base), hdr,
				 &loc) ||
		    read_encoded(&p, end, base[3], hdr + (uint64_t)(p - base), hdr,
				 &fde))
			return -ENOENT;
		err = span_push(spans, loc, UINT64_MAX);
		if (err)
			return err;
	}
	return 0;
}

static Elf_Scn *find_section(Elf *elf, const char *name, GElf_Shdr *sh)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, sh) || sh->sh_type == SHT_NOBITS)
			continue;
		n = elf_strptr(elf, shstrndx, sh->sh_name);
		if (n && strcmp(n, name) == 0)
			return scn;
	}
	return NULL;
}

/* Size in bytes of a fixed-size pointer encoding (not the LEB128 forms). */
static size_t encoded_size(uint8_t enc)
{
	switch (enc & PE_FORMAT) {
	case PE_UDATA2:
	case PE_SDATA2:
		return 2;
	case PE_UDATA4:
	case PE_SDATA4:
		return 4;
	default:
		return 8;
	}
}

/* The FDE pointer encoding a CIE's augmentation declares ('R'). */
static int cie_fde_encoding(const Dwarf_CIE *cie, bool eh, uint8_t *enc)
{
	const char *a = cie->augmentation;
	const uint8_t *p = cie->augmentation_data;
	const uint8_t *end = p ? p + cie->augmentation_data_size : NULL;

	*enc = PE_ABSPTR;
	if (!eh || !a || a[0] != 'z')
		return (!a || a[0] == '\0') ? 0 : -EINVAL;
	for (a++; *a; a++) {
		uint64_t skip;
		uint8_t penc;

		switch (*a) {
		case 'R':
			if (!p || p >= end)
				return -EINVAL;
			*enc = *p++;
			break;
		case 'P':
			if (!p || p >= end)
				return -EINVAL;
			penc = *p++;
			if ((penc & PE_FORMAT) == PE_ULEB128 ||
			    (penc & PE_FORMAT) == PE_SLEB128) {
				if (read_uleb(&p, end, &skip))
					return -EINVAL;
			} else {
				if ((size_t)(end - p) < encoded_size(penc))
					return -EINVAL;
				p += encoded_size(penc);
			}
			break;
		case 'L':
			if (!p || p >= end)
				return -EINVAL;
			p++;
			break;
		case 'S':
		case 'B':
		case 'G':
			break;
		default:
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * The highest DWARF register number an x86-64 CFA program may name (the
 * AVX-512 mask registers end at 125). libdw sizes every frame it computes
 * by the highest register its program names: one corrupt instruction
 * naming register 10^8 cost 1.5 GB and 8 s for a 19 KB file.
 */
#define MAX_CFI_REG 127

static int skip_bytes(const uint8_t **p, const uint8_t *end, uint64_t n)
{
	if ((uint64_t)(end - *p) < n)
		return -EINVAL;
	*p += n;
	return 0;
}

/*
 * 0 when every register the CFA instructions [p, end) name is at most
 * MAX_CFI_REG, -ERANGE when one is not. Decoding ends at an opcode it does
 * not know or at a truncated operand, as libdw's does (and what follows is
 * never executed). enc is the FDE pointer encoding (DW_CFA_set_loc).
 */
static int cfa_regs_check(const uint8_t *p, const uint8_t *end, uint8_t enc)
{
	while (p < end) {
		uint8_t op = *p++;
		uint64_t reg = 0, v;
		int64_t sv;
		int err = 0;

		if ((op & 0xc0) == DW_CFA_advance_loc || (op & 0xc0) == DW_CFA_restore)
			continue;	/* a 6-bit register at most */
		if ((op & 0xc0) == DW_CFA_offset) {
			if (read_uleb(&p, end, &v))
				return 0;
			continue;
		}
		switch (op) {
		case DW_CFA_nop:
		case DW_CFA_remember_state:
		case DW_CFA_restore_state:
		case DW_CFA_GNU_window_save:
			break;
		case DW_CFA_set_loc:
			err = (enc & PE_FORMAT) == PE_ULEB128 ? read_uleb(&p, end, &v) :
			      (enc & PE_FORMAT) == PE_SLEB128 ? read_sleb(&p, end, &sv) :
			      skip_bytes(&p, end, encoded_size(enc));
			break;
		case DW_CFA_advance_loc1:
			err = skip_bytes(&p, end, 1);
			break;
		case DW_CFA_advance_loc2:
			err = skip_bytes(&p, end, 2);
			break;
		case DW_CFA_advance_loc4:
			err = skip_bytes(&p, end, 4);
			break;
		case DW_CFA_MIPS_advance_loc8:
			err = skip_bytes(&p, end, 8);
			break;
		case DW_CFA_def_cfa_offset:
		case DW_CFA_GNU_args_size:
			err = read_uleb(&p, end, &v);
			break;
		case DW_CFA_def_cfa_offset_sf:
			err = read_sleb(&p, end, &sv);
			break;
		case DW_CFA_def_cfa_expression:
			err = read_uleb(&p, end, &v) || skip_bytes(&p, end, v);
			break;
		case DW_CFA_restore_extended:
		case DW_CFA_undefined:
		case DW_CFA_same_value:
		case DW_CFA_def_cfa_register:
			err = read_uleb(&p, end, &reg);
			break;
		case DW_CFA_offset_extended:
		case DW_CFA_val_offset:
		case DW_CFA_def_cfa:
		case DW_CFA_GNU_negative_offset_extended:
			err = read_uleb(&p, end, &reg) || read_uleb(&p, end, &v);
			break;
		case DW_CFA_offset_extended_sf:
		case DW_CFA_val_offset_sf:
		case DW_CFA_def_cfa_sf:
			err = read_uleb(&p, end, &reg) || read_sleb(&p, end, &sv);
			break;
		case DW_CFA_register:
			err = read_uleb(&p, end, &reg) || read_uleb(&p, end, &v);
			if (!err && v > reg)
				reg = v;
			break;
		case DW_CFA_expression:
		case DW_CFA_val_expression:
			err = read_uleb(&p, end, &reg) || read_uleb(&p, end, &v) ||
			      skip_bytes(&p, end, v);
			break;
		default:
			return 0;
		}
		if (err)
			return 0;
		if (reg > MAX_CFI_REG)
			return -ERANGE;
	}
	return 0;
}

struct cie_enc {
	Dwarf_Off off;
	int enc;	/* -1: a CIE whose FDEs cannot be decoded */
	bool z;		/* its FDEs carry augmentation data */
	bool refused;	/* its initial instructions fail cfa_regs_check */
};

/*
 * Walk a CFI section entry by entry for the FDE ranges: into spans (when
 * not NULL) for .debug_frame and .eh_frame without .eh_frame_hdr, and into
 * refused those of the FDEs whose instructions, or their CIE's, fail
 * cfa_regs_check: libdw is never asked about their rows.
 */
static int scan_fde_spans(Elf *elf, Elf_Data *data, uint64_t sec_vaddr, bool eh,
			  struct span_vec *spans, struct span_vec *refused)
{
	const unsigned char *ident = (const unsigned char *)elf_getident(elf, NULL);
	struct cie_enc *cies = NULL;
	size_t ncies = 0;
	Dwarf_Off off = 0, next;
	Dwarf_CFI_Entry e;
	int err = 0;

	while (!err && dwarf_next_cfi(ident, data, eh, off, &next, &e) == 0) {
		if (dwarf_cfi_cie_p(&e)) {
			struct cie_enc *v = realloc(cies, (ncies + 1) * sizeof(*v));
			uint8_t enc;

			if (!v) {
				err = -ENOMEM;
				break;
			}
			cies = v;
			cies[ncies].off = off;
			cies[ncies].enc = cie_fde_encoding(&e.cie, eh, &enc) ? -1 : enc;
			cies[ncies].z = eh && e.cie.augmentation && e.cie.augmentation[0] == 'z';
			cies[ncies++].refused =
				cfa_regs_check(e.cie.initial_instructions,
					       e.cie.initial_instructions_end, enc) != 0;
		} else {
			const uint8_t *p = e.fde.start, *end = e.fde.end;
			uint64_t field = sec_vaddr +
				(uint64_t)(p - (const uint8_t *)data->d_buf);
			uint64_t start, range, aug = 0;
			const struct cie_enc *c = NULL;

			/* an FDE's CIE is nearly always the latest one seen */
			for (size_t i = ncies; i-- > 0;) {
				if (cies[i].off == e.fde.CIE_pointer) {
					c = &cies[i];
					break;
				}
			}
			if (c && c->enc >= 0 &&
			    !read_encoded(&p, end, (uint8_t)c->enc, field, 0, &start) &&
			    !read_encoded(&p, end, (uint8_t)c->enc & PE_FORMAT, 0, 0,
					  &range) &&
			    range > 0) {
				if (c->refused ||
				    (c->z && (read_uleb(&p, end, &aug) ||
					      skip_bytes(&p, end, aug))) ||
				    cfa_regs_check(p, end, (uint8_t)c->enc))
					err = span_push(refused, start, start + range);
				else if (spans)
					err = span_push(spans, start, start + range);
			}
		}
		if (next == (Dwarf_Off)-1)
			break;
		off = next;
	}
	free(cies);
	return err;
}

static bool op_is_breg(const Dwarf_Op *op, int reg, int64_t *off)
{
	if (op->atom == DW_OP_bregx && op->number == (Dwarf_Word)reg) {
		*off = (int64_t)op->number2;
		return true;
	}
	if (op->atom == DW_OP_breg0 + reg) {
		*off = (int64_t)op->number;
		return true;
	}
	return false;
}

/*
 * The expression binutils emits for lazy-binding PLT entries:
 *   rsp + 8 + ((rip & 15) >= N ? 8 : 0)
 */
static bool is_plt_expr(const Dwarf_Op *ops, size_t n, int64_t *off)
{
	int64_t rip_off;

	return n == 9 && op_is_breg(&ops[0], REG_RSP, off) &&
	       op_is_breg(&ops[1], REG_RA, &rip_off) && rip_off == 0 &&
	       ops[2].atom == DW_OP_lit15 && ops[3].atom == DW_OP_and &&
	       ops[4].atom >= DW_OP_lit0 && ops[4].atom <= DW_OP_lit31 &&
	       ops[5].atom == DW_OP_ge && ops[6].atom == DW_OP_lit3 &&
	       ops[7].atom == DW_OP_shl && ops[8].atom == DW_OP_plus;
}

/* A location CFA + off as libdw spells it: call_frame_cfa [plus_uconst off]. */
static bool cfa_offset_rule(const Dwarf_Op *ops, size_t n, int64_t *off)
{
	if (n < 1 || n > 2 || ops[0].atom != DW_OP_call_frame_cfa)
		return false;
	if (n == 1) {
		*off = 0;
		return true;
	}
	if (ops[1].atom != DW_OP_plus_uconst)
		return false;
	*off = (int64_t)ops[1].number;
	return true;
}

/*
 * Translate one CFI row. Returns false when the rules cannot be expressed
 * as a row (the row becomes MO_CFA_NONE and counts as unsupported).
 */
static bool frame_row(Dwarf_Frame *f, struct mo_unwind_row *row)
{
	Dwarf_Op mem[3], *ops;
	size_t n;
	int64_t off;

	row->cfa = MO_CFA_NONE;
	row->cfa_off = 0;
	row->rbp_off8 = MO_RBP_SAME;

	if (dwarf_frame_info(f, NULL, NULL, NULL) != REG_RA ||
	    dwarf_frame_register(f, REG_RA, mem, &ops, &n))
		return false;
	/* An undefined return address marks the outermost frame (_start,
	 * thread entry): a correct place to stop, not a gap in support. */
	if (n == 0 && ops == mem) {
		row->cfa = MO_CFA_END;
		return true;
	}
	if (!cfa_offset_rule(ops, n, &off) || off != -8)
		return false;

	if (dwarf_frame_cfa(f, &ops, &n) || n == 0)
		return false;
	if (n == 1 && op_is_breg(&ops[0], REG_RSP, &off))
		row->cfa = MO_CFA_RSP;
	else if (n == 1 && op_is_breg(&ops[0], REG_RBP, &off))
		row->cfa = MO_CFA_RBP;
	else if (is_plt_expr(ops, n, &off))
		row->cfa = MO_CFA_PLT;
	if (row->cfa == MO_CFA_NONE || off < 0 || off > UINT16_MAX) {
		row->cfa = MO_CFA_NONE;
		return false;
	}
	row->cfa_off = (uint16_t)off;

	if (dwarf_frame_register(f, REG_RBP, mem, &ops, &n))
		goto unsupported;
	/* same_value (ops NULL) or undefined (ops == mem): rbp unchanged */
	if (n == 0)
		return true;
	if (!cfa_offset_rule(ops, n, &off) || off == 0 || off % 8 ||
	    off / 8 < INT8_MIN || off / 8 > INT8_MAX)
		goto unsupported;
	row->rbp_off8 = (int8_t)(off / 8);
	return true;

unsupported:
	row->cfa = MO_CFA_NONE;
	row->cfa_off = 0;
	row->rbp_off8 = MO_RBP_SAME;
	return false;
}

/*
 * Emit the rows of the FDE starting at start; its rows stop at bound at the
 * latest. *stop is the pc where they stopped, which gets a MO_CFA_NONE row
 * so a gap before the next FDE stops the walker; sort_and_merge drops that
 * row when the next FDE starts right there.
 */
static int walk_fde(struct builder *b, Dwarf_CFI *cfi, uint64_t start,
		    uint64_t bound, uint64_t *stop)
{
	uint64_t pc = start;
	int err;

	while (pc < bound && pc - b->vaddr_min <= UINT32_MAX) {
		struct mo_unwind_row row;
		Dwarf_Frame *f;
		Dwarf_Addr hi;

		if (dwarf_cfi_addrframe(cfi, pc, &f))
			break;
		if (dwarf_frame_info(f, NULL, &hi, NULL) < 0 || hi <= pc) {
			free(f);
			break;
		}
		if (!frame_row(f, &row))
			b->unsupported++;
		free(f);
		row.pc = (uint32_t)(pc - b->vaddr_min);
		err = row_push(b, &row);
		if (err)
			return err;
		pc = hi < bound ? hi : bound;
	}
	*stop = pc;
	if (pc > start && pc - b->vaddr_min <= UINT32_MAX) {
		struct mo_unwind_row gap = { .pc = (uint32_t)(pc - b->vaddr_min) };

		return row_push(b, &gap);
	}
	return 0;
}

static bool in_module(const struct builder *b, uint64_t pc)
{
	return pc >= b->vaddr_min && pc - b->vaddr_min < UINT32_MAX;
}

static int cmp_span(const void *a, const void *b)
{
	const struct fde_span *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Sort v and merge the spans that overlap or touch. */
static void coalesce(struct span_vec *v)
{
	size_t out = 0;

	if (!v->n)
		return;
	qsort(v->v, v->n, sizeof(*v->v), cmp_span);
	for (size_t i = 1; i < v->n; i++) {
		if (v->v[i].start <= v->v[out].end) {
			if (v->v[i].end > v->v[out].end)
				v->v[out].end = v->v[i].end;
		} else {
			v->v[++out] = v->v[i];
		}
	}
	v->n = out + 1;
}

/* Whether [start, bound) meets a span of v (sorted, not overlapping). */
static bool meets(const struct span_vec *v, uint64_t start, uint64_t bound)
{
	size_t lo = 0, hi = v ? v->n : 0;

	/* first span ending after start */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->v[mid].end <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return v && lo < v->n && v->v[lo].start < bound;
}

/* Walk every span of one CFI source in start order. Spans meeting covered
 * (the ranges an earlier source already described) or refused (FDEs
 * libdw must not evaluate, sorted) are skipped; the ranges walked are
 * appended to walked. */
static int walk_spans(struct builder *b, Dwarf_CFI *cfi, struct span_vec *spans,
		      const struct span_vec *covered, const struct span_vec *refused,
		      struct span_vec *walked)
{
	if (spans->n)
		qsort(spans->v, spans->n, sizeof(*spans->v), cmp_span);
	for (size_t i = 0; i < spans->n; i++) {
		struct fde_span s = spans->v[i];
		uint64_t bound = s.end, stop;
		int err;

		if (i + 1 < spans->n && spans->v[i + 1].start < bound)
			bound = spans->v[i + 1].start;
		if (!in_module(b, s.start) || bound <= s.start)
			continue;
		if (meets(covered, s.start, bound))
			continue;
		if (meets(refused, s.start, bound))
			continue;
		err = walk_fde(b, cfi, s.start, bound, &stop);
		if (!err && walked && stop > s.start)
			err = span_push(walked, s.start, stop);
		if (err)
			return err;
	}
	return 0;
}

static int cmp_row(const void *a, const void *b)
{
	const struct mo_unwind_row *x = a, *y = b;

	if (x->pc != y->pc)
		return x->pc < y->pc ? -1 : 1;
	/* a described row wins over the gap marker of a neighbour */
	return (x->cfa == MO_CFA_NONE) - (y->cfa == MO_CFA_NONE);
}

static bool same_rule(const struct mo_unwind_row *a, const struct mo_unwind_row *b)
{
	return a->cfa == b->cfa && a->cfa_off == b->cfa_off &&
	       a->rbp_off8 == b->rbp_off8;
}

static void sort_and_merge(struct builder *b)
{
	size_t out = 0;

	qsort(b->rows, b->n, sizeof(*b->rows), cmp_row);
	for (size_t i = 0; i < b->n; i++) {
		if (i > 0 && b->rows[i].pc == b->rows[i - 1].pc)
			continue;
		if (out > 0 && same_rule(&b->rows[out - 1], &b->rows[i]))
			continue;
		b->rows[out++] = b->rows[i];
	}
	b->n = out;
}

static int build_eh_frame(Elf *elf, struct builder *b, struct span_vec *walked)
{
	struct span_vec spans = { 0 }, refused = { 0 };
	Dwarf_CFI *cfi = dwarf_getcfi_elf(elf);
	GElf_Shdr sh;
	Elf_Scn *scn;
	Elf_Data *d;
	int err;

	if (!cfi)
		return 0;
	/* the section is read for the FDEs to refuse even when the header's
	 * table gives the starts; without section headers libdw finds
	 * .eh_frame through the header alone, and nothing is refused */
	scn = find_section(elf, ".eh_frame", &sh);
	d = scn ? elf_getdata(scn, NULL) : NULL;
	err = hdr_fde_starts(elf, &spans);
	if (err == -ENOENT) {
		spans.n = 0;
		err = d ? scan_fde_spans(elf, d, sh.sh_addr, true, &spans, &refused) : 0;
	} else if (!err && d) {
		err = scan_fde_spans(elf, d, sh.sh_addr, true, NULL, &refused);
	}
	if (!err) {
		coalesce(&refused);
		err = walk_spans(b, cfi, &spans, NULL, &refused, walked);
	}
	free(spans.v);
	free(refused.v);
	dwarf_cfi_end(cfi);
	return err;
}

static int build_debug_frame(Elf *elf, struct builder *b,
			     const struct span_vec *covered)
{
	struct span_vec spans = { 0 }, refused = { 0 };
	GElf_Shdr sh;
	Elf_Scn *scn = find_section(elf, ".debug_frame", &sh);
	Elf_Data *d;
	Dwarf *dw;
	Dwarf_CFI *cfi;
	int err = 0;

	if (!scn)
		return 0;
	dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	if (!dw)
		return 0;
	/* dwarf_begin_elf has decompressed SHF_COMPRESSED sections in place */
	cfi = dwarf_getcfi(dw);
	d = elf_getdata(scn, NULL);
	if (cfi && d)
		err = scan_fde_spans(elf, d, 0, false, &spans, &refused);
	if (!err && cfi) {
		coalesce(&refused);
		err = walk_spans(b, cfi, &spans, covered, &refused, NULL);
	}
	free(spans.v);
	free(refused.v);
	dwarf_end(dw);
	return err;
}

int mo_unwind_table_build(const char *path, struct mo_unwind_table *out)
{
	int fd, err;

	memset(out, 0, sizeof(*out));
	fd = mo_safe_open(path, NULL, 0, NULL);
	if (fd < 0)
		return fd == -ENXIO ? -ENOEXEC : fd;
	err = mo_unwind_table_build_fd(fd, out);
	close(fd);
	return err;
}

int mo_unwind_table_build_fd(int fd, struct mo_unwind_table *out)
{
	struct builder b = { 0 };
	struct span_vec walked = { 0 };
	struct mo_unwind_row *shrunk;
	GElf_Ehdr eh;
	Elf *elf = NULL;
	int err;

	memset(out, 0, sizeof(*out));
	elf_version(EV_CURRENT);
	/* not ELF_C_READ_MMAP: the file's owner may truncate it while we read,
	 * which would be a SIGBUS through a mapping; sections are read with
	 * pread when asked for */
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64) {
		err = -ENOEXEC;
		goto cleanup;
	}
	err = read_layout(elf, out);
	if (err)
		goto cleanup;
	b.vaddr_min = out->vaddr_min;

	err = build_eh_frame(elf, &b, &walked);
	if (!err) {
		if (walked.n)
			qsort(walked.v, walked.n, sizeof(*walked.v), cmp_span);
		err = build_debug_frame(elf, &b, &walked);
	}
	if (err)
		goto cleanup;
	if (b.n == 0) {
		err = -ENODATA;
		goto cleanup;
	}
	sort_and_merge(&b);
	shrunk = realloc(b.rows, b.n * sizeof(*b.rows));
	if (shrunk)
		b.rows = shrunk;
	out->rows = b.rows;
	out->nrows = b.n;
	out->unsupported = b.unsupported;
	b.rows = NULL;

cleanup:
	free(b.rows);
	free(walked.v);
	elf_end(elf);
	return err;
}

void mo_unwind_table_release(struct mo_unwind_table *t)
{
	if (!t)
		return;
	free(t->rows);
	memset(t, 0, sizeof(*t));
}
