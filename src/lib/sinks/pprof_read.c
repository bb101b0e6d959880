// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pprof_read.c - decode a profile with the protobuf-c code generated from
 * proto/profile.proto, check its references, flatten its samples.
 *
 * protobuf-c allocates through a counting allocator: what it builds is
 * bounded by a multiple of the input, whatever the input claims.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "sinks/pprof_read.h"
#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile Profile;
typedef Perftools__Profiles__Location Location;
typedef Perftools__Profiles__Function Function;
typedef Perftools__Profiles__Mapping Mapping;
typedef Perftools__Profiles__Sample Sample;

/* What protobuf-c may allocate: the decoded form of a valid profile is a
 * few times its encoding (pointers per repeated message, 8 bytes per
 * packed varint of one byte). */
#define DECODE_FACTOR 32u
#define DECODE_SLACK (1u << 20)
/* Frames of all stacks together, per decoded byte: samples share their
 * locations, so a real profile has a few frames per byte at most. */
#define FRAMES_PER_BYTE 16u
#define FRAMES_SLACK 65536u

struct budget {
	size_t left;
	bool refused;	/* an allocation went over */
};

struct priv {
	Profile *prof;
	struct budget budget;
	ProtobufCAllocator alloc;
	uint64_t *str_hash;		/* per string table entry */
	struct mo_pprof_frame *frames;	/* every stack's, one block */
	char **names;			/* made for unsymbolized locations */
	size_t nnames, names_cap;
};

/* Each block remembers its size so that free gives it back. */
static void *budget_alloc(void *data, size_t size)
{
	struct budget *b = data;
	size_t *p;

	if (size > b->left || b->left - size < sizeof(size_t)) {
		b->refused = true;
		return NULL;
	}
	p = malloc(sizeof(size_t) + size);
	if (!p)
		return NULL;
	b->left -= size + sizeof(size_t);
	*p = size;
	return p + 1;
}

static void budget_free(void *data, void *ptr)
{
	struct budget *b = data;
	size_t *p = ptr;

	if (!p)
		return;
	b->left += p[-1] + sizeof(size_t);
	free(p - 1);
}

static uint64_t hash_bytes(const char *s, uint64_t h)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;	/* FNV-1a */
	}
	return h;
}

#define HASH_SEED 0xcbf29ce484222325ULL

static uint64_t hash_mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h;
}

static bool is_gzip(const uint8_t *d, size_t len)
{
	return len >= 2 && d[0] == 0x1f && d[1] == 0x8b;
}

/* The gzip stream at data, whole, in *out (malloc'ed). */
static int gunzip(const uint8_t *data, size_t len, uint8_t **out, size_t *outlen,
		  const char **why)
{
	z_stream zs = { 0 };
	size_t cap = len < 16384 ? 65536 : len * 4;
	uint8_t *buf = NULL, *nbuf;
	int zerr = Z_OK, err = 0;

	*out = NULL;
	if (len > UINT_MAX) {
		*why = "is larger than 4 GiB";
		return -EFBIG;
	}
	if (cap > MO_PPROF_READ_MAX)
		cap = MO_PPROF_READ_MAX;
	/* 15 + 16: gzip only */
	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)data;
	zs.avail_in = (uInt)len;
	while (zerr != Z_STREAM_END) {
		if (!buf || zs.total_out == cap) {
			size_t ncap = buf ? cap * 2 : cap;

			if (buf && cap == MO_PPROF_READ_MAX) {
				*why = "decompresses to more than 256 MiB";
				err = -EFBIG;
				break;
			}
			if (ncap > MO_PPROF_READ_MAX)
				ncap = MO_PPROF_READ_MAX;
			nbuf = realloc(buf, ncap);
			if (!nbuf) {
				err = -ENOMEM;
				break;
			}
			buf = nbuf;
			cap = ncap;
		}
		zs.next_out = buf + zs.total_out;
		zs.avail_out = (uInt)(cap - zs.total_out);
		zerr = inflate(&zs, Z_NO_FLUSH);
		if (zerr == Z_BUF_ERROR && zs.avail_out) {
			/* room left and nothing more to read */
			*why = "is truncated (its gzip stream ends early)";
			err = -EINVAL;
			break;
		}
		if (zerr != Z_OK && zerr != Z_STREAM_END && zerr != Z_BUF_ERROR) {
			*why = zerr == Z_MEM_ERROR ? "" : "is not valid gzip data";
			err = zerr == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
			break;
		}
	}
	*outlen = zs.total_out;
	if (!err && zs.avail_in) {
		*why = "has data after its gzip stream";
		err = -EINVAL;
	}
	inflateEnd(&zs);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	return 0;
}

/* Sorted (id, index) pairs: ids are the profile's to choose. */
struct id_ix {
	uint64_t id;
	size_t i;
};

static int by_id(const void *a, const void *b)
{
	const struct id_ix *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static struct id_ix *id_index(size_t n, uint64_t (*id_of)(const Profile *, size_t),
			      const Profile *p, bool *dup)
{
	struct id_ix *ix = malloc((n ? n : 1) * sizeof(*ix));

	*dup = false;
	if (!ix)
		return NULL;
	for (size_t i = 0; i < n; i++)
		ix[i] = (struct id_ix){ id_of(p, i), i };
	qsort(ix, n, sizeof(*ix), by_id);
	for (size_t i = 0; i + 1 < n; i++)
		*dup |= ix[i].id == ix[i + 1].id;
	return ix;
}

/* index + 1 of the id, 0 when absent (id 0 is never an entry) */
static size_t id_find(const struct id_ix *ix, size_t n, uint64_t id)
{
	struct id_ix key = { id, 0 };
	const struct id_ix *hit;

	if (!id)
		return 0;
	hit = bsearch(&key, ix, n, sizeof(*ix), by_id);
	return hit ? hit->i + 1 : 0;
}

static uint64_t loc_id(const Profile *p, size_t i)
{
	return p->location[i]->id;
}

static uint64_t fn_id(const Profile *p, size_t i)
{
	return p->function[i]->id;
}

static uint64_t map_id(const Profile *p, size_t i)
{
	return p->mapping[i]->id;
}

static bool str_ok(const Profile *p, int64_t i)
{
	return i >= 0 && (uint64_t)i < p->n_string_table;
}

/* Lookups while reading, released once the stacks are built. */
struct tables {
	struct id_ix *locs, *fns, *maps;
	struct mo_pprof_frame *loc_frames;	/* every location's, in order */
	size_t *loc_first, *loc_n;		/* per location: where, how many */
};

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Frames for one location: its lines' functions, or a made-up name. */
static int location_frames(const Profile *p, struct priv *pv, const struct tables *t,
			   const Location *loc, struct mo_pprof_frame *out, size_t *n,
			   const char **why)
{
	const Mapping *m = NULL;
	uint64_t off = loc->address;
	char name[PATH_MAX + 32], **names;
	size_t k;

	*n = 0;
	for (size_t j = 0; j < loc->n_line; j++) {
		k = id_find(t->fns, p->n_function, loc->line[j]->function_id);
		if (!k) {
			*why = "has a line naming a function it lacks";
			return -EINVAL;
		}
		out[(*n)++] = (struct mo_pprof_frame){ p->string_table[p->function[k - 1]->name],
						       pv->str_hash[p->function[k - 1]->name] };
	}
	if (*n)
		return 0;
	k = id_find(t->maps, p->n_mapping, loc->mapping_id);
	if (loc->mapping_id && !k) {
		*why = "has a location in a mapping it lacks";
		return -EINVAL;
	}
	if (k) {
		m = p->mapping[k - 1];
		off = loc->address - m->memory_start + m->file_offset;
	}
	if (m && p->string_table[m->filename][0])
		snprintf(name, sizeof(name), "%s+0x%llx", base_name(p->string_table[m->filename]),
			 (unsigned long long)off);
	else
		snprintf(name, sizeof(name), "0x%llx", (unsigned long long)loc->address);
	if (pv->nnames == pv->names_cap) {
		size_t ncap = pv->names_cap ? pv->names_cap * 2 : 64;

		names = realloc(pv->names, ncap * sizeof(*names));
		if (!names)
			return -ENOMEM;
		pv->names = names;
		pv->names_cap = ncap;
	}
	names = pv->names;
	names[pv->nnames] = strdup(name);
	if (!names[pv->nnames])
		return -ENOMEM;
	out[0] = (struct mo_pprof_frame){ names[pv->nnames], hash_bytes(name, HASH_SEED) };
	pv->nnames++;
	*n = 1;
	return 0;
}

/* Every string index the profile holds must be in its table. */
static int check_strings(const Profile *p, const char **why)
{
	for (size_t i = 0; i < p->n_sample_type; i++)
		if (!str_ok(p, p->sample_type[i]->type) || !str_ok(p, p->sample_type[i]->unit))
			goto bad;
	for (size_t i = 0; i < p->n_function; i++)
		if (!str_ok(p, p->function[i]->name) || !str_ok(p, p->function[i]->system_name) ||
		    !str_ok(p, p->function[i]->filename))
			goto bad;
	for (size_t i = 0; i < p->n_mapping; i++)
		if (!str_ok(p, p->mapping[i]->filename) || !str_ok(p, p->mapping[i]->build_id))
			goto bad;
	for (size_t i = 0; i < p->n_sample; i++)
		for (size_t j = 0; j < p->sample[i]->n_label; j++)
			if (!str_ok(p, p->sample[i]->label[j]->key) ||
			    !str_ok(p, p->sample[i]->label[j]->str))
				goto bad;
	return 0;
bad:
	*why = "refers to a string its string table lacks";
	return -EINVAL;
}

/* The frames of every location, once, into t->loc_frames. */
static int build_locations(const Profile *p, struct priv *pv, struct tables *t, const char **why)
{
	size_t nlines = 0, at = 0;
	int err;

	for (size_t i = 0; i < p->n_location; i++)
		nlines += p->location[i]->n_line ? p->location[i]->n_line : 1;
	t->loc_frames = malloc((nlines ? nlines : 1) * sizeof(*t->loc_frames));
	t->loc_first = malloc((p->n_location ? p->n_location : 1) * sizeof(size_t));
	t->loc_n = malloc((p->n_location ? p->n_location : 1) * sizeof(size_t));
	if (!t->loc_frames || !t->loc_first || !t->loc_n)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_location; i++) {
		t->loc_first[i] = at;
		err = location_frames(p, pv, t, p->location[i], t->loc_frames + at, &t->loc_n[i],
				      why);
		if (err)
			return err;
		at += t->loc_n[i];
	}
	return 0;
}

static const char *command_of(const Profile *p, const Sample *s)
{
	for (size_t j = 0; j < s->n_label; j++)
		if (!strcmp(p->string_table[s->label[j]->key], "command") && s->label[j]->str)
			return p->string_table[s->label[j]->str];
	return "";
}

/*
 * Each sample's stack: the frames of its locations in order (leaf first),
 * copied into one block for all stacks (pv->frames).
 */
static int build_stacks(const Profile *p, struct priv *pv, const struct tables *t,
			struct mo_pprof_data *out, size_t in_len, const char **why)
{
	uint64_t budget = (uint64_t)in_len * FRAMES_PER_BYTE + FRAMES_SLACK, total = 0;
	struct mo_pprof_frame *all;
	size_t at = 0;

	for (size_t i = 0; i < p->n_sample; i++) {
		const Sample *s = p->sample[i];
		uint64_t n = 0;

		if (s->n_value != p->n_sample_type) {
			*why = "has a sample whose values do not match its sample types";
			return -EINVAL;
		}
		for (size_t j = 0; j < s->n_location_id && n < MO_PPROF_READ_MAX_FRAMES; j++) {
			size_t k = id_find(t->locs, p->n_location, s->location_id[j]);

			if (!k) {
				*why = "has a sample at a location it lacks";
				return -EINVAL;
			}
			n += t->loc_n[k - 1];
		}
		total += n < MO_PPROF_READ_MAX_FRAMES ? n : MO_PPROF_READ_MAX_FRAMES;
		if (total > budget) {
			*why = "has more frames than its size allows";
			return -EFBIG;
		}
	}
	all = pv->frames = malloc((total ? total : 1) * sizeof(*all));
	out->stacks = calloc(p->n_sample ? p->n_sample : 1, sizeof(*out->stacks));
	if (!all || !out->stacks)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_sample; i++) {
		const Sample *s = p->sample[i];
		struct mo_pprof_stack *st = &out->stacks[i];
		size_t n = 0;

		st->command = command_of(p, s);
		st->hash = hash_bytes(st->command, HASH_SEED);
		st->frames = all + at;
		for (size_t j = 0; j < s->n_location_id; j++) {
			size_t k = id_find(t->locs, p->n_location, s->location_id[j]) - 1;

			for (size_t f = 0; f < t->loc_n[k]; f++) {
				if (n == MO_PPROF_READ_MAX_FRAMES) {
					out->frames_cut++;
					continue;
				}
				all[at + n] = t->loc_frames[t->loc_first[k] + f];
				st->hash = hash_mix(st->hash, all[at + n].hash);
				n++;
			}
		}
		st->nframes = n;
		st->values = s->value;
		at += n;
	}
	out->nstacks = p->n_sample;
	return 0;
}

static int decode(const uint8_t *pb, size_t len, struct priv *pv, struct mo_pprof_data *out,
		  const char **why)
{
	struct tables t = { 0 };
	const Profile *p;
	bool dup_l, dup_f, dup_m;
	int err = -ENOMEM;

	pv->budget.left = len * DECODE_FACTOR + DECODE_SLACK;
	pv->alloc = (ProtobufCAllocator){ budget_alloc, budget_free, &pv->budget };
	pv->prof = perftools__profiles__profile__unpack(&pv->alloc, len, pb);
	if (!pv->prof && pv->budget.refused) {
		*why = "decodes to more memory than its size allows";
		return -EFBIG;
	}
	if (!pv->prof) {
		*why = "is not a pprof profile (it does not decode as profile.proto)";
		return -EINVAL;
	}
	p = pv->prof;
	if (!p->n_string_table || p->string_table[0][0]) {
		*why = "is not a pprof profile (its string table does not start with \"\")";
		return -EINVAL;
	}
	if (!p->n_sample_type) {
		*why = "is not a pprof profile (it has no sample types)";
		return -EINVAL;
	}
	err = check_strings(p, why);
	if (err)
		return err;
	pv->str_hash = malloc(p->n_string_table * sizeof(*pv->str_hash));
	out->types = malloc(p->n_sample_type * sizeof(*out->types));
	out->units = malloc(p->n_sample_type * sizeof(*out->units));
	t.locs = id_index(p->n_location, loc_id, p, &dup_l);
	t.fns = id_index(p->n_function, fn_id, p, &dup_f);
	t.maps = id_index(p->n_mapping, map_id, p, &dup_m);
	err = -ENOMEM;
	if (!pv->str_hash || !out->types || !out->units || !t.locs || !t.fns || !t.maps)
		goto out;
	if (dup_l || dup_f || dup_m) {
		*why = "has two locations, functions or mappings with one id";
		err = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < p->n_string_table; i++)
		pv->str_hash[i] = hash_bytes(p->string_table[i], HASH_SEED);
	for (size_t i = 0; i < p->n_sample_type; i++) {
		out->types[i] = p->string_table[p->sample_type[i]->type];
		out->units[i] = p->string_table[p->sample_type[i]->unit];
	}
	out->ntypes = p->n_sample_type;
	out->time_nanos = p->time_nanos;
	err = build_locations(p, pv, &t, why);
	if (!err)
		err = build_stacks(p, pv, &t, out, len, why);
out:
	free(t.locs);
	free(t.fns);
	free(t.maps);
	free(t.loc_frames);
	free(t.loc_first);
	free(t.loc_n);
	return err;
}

int mo_pprof_read(const void *data, size_t len, struct mo_pprof_data *out, const char **why)
{
	static const char *none = "";
	struct priv *pv;
	uint8_t *raw = NULL;
	size_t rawlen = len;
	int err;

	if (!why)
		why = &none;
	*why = "";
	memset(out, 0, sizeof(*out));
	if (!data && len)
		return -EINVAL;
	if (!len) {
		*why = "is empty";
		return -EINVAL;
	}
	if (len > MO_PPROF_READ_MAX) {
		*why = "is larger than 256 MiB";
		return -EFBIG;
	}
	pv = calloc(1, sizeof(*pv));
	if (!pv)
		return -ENOMEM;
	out->priv = pv;
	if (is_gzip(data, len)) {
		err = gunzip(data, len, &raw, &rawlen, why);
		if (err)
			return err;
		data = raw;
	}
	err = decode(data, rawlen, pv, out, why);
	free(raw);
	return err;
}

void mo_pprof_data_release(struct mo_pprof_data *p)
{
	struct priv *pv;

	if (!p)
		return;
	pv = p->priv;
	if (pv) {
		perftools__profiles__profile__free_unpacked(pv->prof, &pv->alloc);
		free(pv->str_hash);
		free(pv->frames);
		for (size_t i = 0; i < pv->nnames; i++)
			free(pv->names[i]);
		free(pv->names);
		free(pv);
	}
	free(p->types);
	free(p->units);
	free(p->stacks);
	memset(p, 0, sizeof(*p));
}

int mo_pprof_type_index(const struct mo_pprof_data *p, const char *type)
{
	for (size_t i = 0; i < p->ntypes; i++)
		if (!strcmp(p->types[i], type))
			return (int)i;
	return -1;
}
