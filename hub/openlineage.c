/*
 * OpenLineage events into the catalog; see openlineage.h.
 *
 * An event is checked whole before anything is written: a malformed event
 * names its bad key and changes nothing.  Then one batch (source
 * "openlineage", not a snapshot) asserts the job, its datasets and the edges
 * input -> job -> output, and the run's state is recorded after the commit.
 *
 * What becomes what (OpenLineage spec 2-0-2 and its facets):
 *   job.namespace/name, dataset namespace/name   -> entity ids (DESIGN.md naming)
 *   jobType facet's jobType ("TASK", "DAG", ...)  -> the job's subtype, lowercase
 *   datasetType facet, else a symlink's type      -> the dataset's subtype, lowercase
 *   (no such facet: "job" / "dataset", unless the entity already has a subtype)
 *   namespace scheme, else jobType.integration or the processing_engine run
 *   facet (jobs), else a bare namespace such as "bigquery" (datasets) -> platform
 *   schema facet fields (nested "fields" flattened as parent.child) -> fields
 *   documentation facet                           -> description
 *   ownership facet owners[].name                 -> owners
 *   tags facet (entity-level tags)                -> tags, "key" or "key:value"
 *   sql facet query                               -> property "sql"
 *   sourceCodeLocation facet                      -> property "source_code_location"
 *   parent run facet                              -> property "parent" and a
 *                                                    "relationship" edge parent -> job
 *   every other job, dataset, input and output facet -> property "facets.<name>",
 *   unless its JSON is over OL_FACET_MAX bytes or it says "_deleted": true.
 * Run facets other than parent stay in the event kept by catalog_run_record().
 */
#include "hub/openlineage.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OL_SOURCE "openlineage"
#define OL_FACET_MAX (64 * 1024)   /* a facet kept as a property is at most this big */
#define OL_DATASETS_MAX 10000      /* inputs, and outputs, of one event */
#define OL_NAME_MAX 1023           /* a namespace or a name */
#define OL_FIELD_DEPTH_MAX 32      /* nesting of schema fields */
#define OL_TAG_MAX 256
#define OL_SHOW_MAX 64             /* how much of a bad value an error quotes */

static const char *const event_types[] = { "START", "RUNNING", "COMPLETE", "ABORT", "FAIL",
					   "OTHER" };

/* One event, checked and turned into catalog writes. */
struct plan {
	json_t *docs;    /* entity documents */
	json_t *edges;   /* [{"src","dst","kind"}] */
	int has_run;
	const char *run_id, *state;  /* borrowed from the event */
	char job_id[CATALOG_ID_MAX];
	char event_time[40];         /* UTC, RFC 3339 with milliseconds */
};

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return CATALOG_EINVAL;
}

/* S shortened for an error message, control characters replaced, into OUT. */
static const char *show(const char *s, char *out, size_t outlen)
{
	size_t n = 0;
	for (; *s && n + 4 < outlen && n < OL_SHOW_MAX; s++)
		out[n++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
	if (*s && n + 4 <= outlen) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

static int has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/*
 * OBJ[KEY] as a non-empty string of at most OL_NAME_MAX bytes with no control
 * characters, in *OUT.  PATH names OBJ in errors ("job", "inputs[2]").
 */
static int need_name(json_t *obj, const char *path, const char *key, const char **out,
		     char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return fail(err, errlen, "%s.%s: missing", path, key);
	if (!json_is_string(v))
		return fail(err, errlen, "%s.%s: not a string", path, key);
	const char *s = json_string_value(v);
	if (!*s)
		return fail(err, errlen, "%s.%s: empty", path, key);
	if (strlen(s) > OL_NAME_MAX)
		return fail(err, errlen, "%s.%s: longer than %d bytes", path, key, OL_NAME_MAX);
	if (has_control(s))
		return fail(err, errlen, "%s.%s: contains control characters", path, key);
	*out = s;
	return 0;
}

/* OBJ[KEY] if absent or an object; "PATH.KEY: not an object" otherwise. */
static int want_object(json_t *obj, const char *path, const char *key, json_t **out, char *err,
		       size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		if (path)
			return fail(err, errlen, "%s.%s: not an object", path, key);
		return fail(err, errlen, "%s: not an object", key);
	}
	*out = v;
	return 0;
}

static const char *str_at(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* --- time and ids ------------------------------------------------------------ */

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * Parse an RFC 3339 date-time ("2024-06-23T09:55:36.109Z", "...+02:00") and
 * write it in UTC with milliseconds into OUT.  0 or -1.
 */
static int rfc3339_utc(const char *s, char *out, size_t outlen)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int year, mon, day, hour, min, sec, ms = 0, off = 0;
	if (strlen(s) < 20 || strlen(s) > 64)
		return -1;
	if (digits(s, 4, &year) || s[4] != '-' || digits(s + 5, 2, &mon) || s[7] != '-' ||
	    digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &hour) || s[13] != ':' || digits(s + 14, 2, &min) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return -1;
	const char *p = s + 19;
	if (*p == '.') {
		int n = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 3)
				ms = ms * 10 + (*p - '0');
		if (n == 0)
			return -1;
		for (; n < 3; n++)
			ms *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return -1;
		off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -1;  /* no offset: not RFC 3339 */
	}
	if (*p != '\0')
		return -1;
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] + (mon == 2 && leap) ||
	    hour > 23 || min > 59 || sec > 60)
		return -1;
	struct tm tm = { .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
			 .tm_hour = hour, .tm_min = min, .tm_sec = sec };
	time_t t = timegm(&tm) - off;
	struct tm utc;
	if (!gmtime_r(&t, &utc))
		return -1;
	size_t n = strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &utc);
	if (n == 0 || (size_t)snprintf(out + n, outlen - n, ".%03dZ", ms) >= outlen - n)
		return -1;
	return 0;
}

static int is_uuid(const char *s)
{
	if (strlen(s) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

/* A copy of S in lowercase, into OUT. */
static void lower(const char *s, char *out, size_t outlen)
{
	size_t n = 0;
	for (; s && *s && n + 1 < outlen; s++)
		out[n++] = (char)tolower((unsigned char)*s);
	out[n] = '\0';
}

/* --- facets to document parts --------------------------------------------------- */

static int facet_deleted(json_t *facet)
{
	return json_is_object(facet) && json_is_true(json_object_get(facet, "_deleted"));
}

/* FACET's compact JSON is at most OL_FACET_MAX bytes. */
static int facet_small(json_t *facet)
{
	size_t n = json_dumpb(facet, NULL, 0, JSON_COMPACT);
	return n > 0 && n <= OL_FACET_MAX;
}

/*
 * Append the schema facet's FIELDS to OUT, nested ones named "parent.child".
 * Fields without a name are skipped; at most CATALOG_FIELDS_MAX in all.
 */
static int add_fields(json_t *out, json_t *fields, const char *prefix, int depth, int *ordinal)
{
	size_t i;
	json_t *f;
	if (!json_is_array(fields) || depth > OL_FIELD_DEPTH_MAX)
		return 0;
	json_array_foreach(fields, i, f) {
		if (json_array_size(out) >= CATALOG_FIELDS_MAX)
			return 0;
		const char *name = str_at(f, "name");
		if (!name || !*name)
			continue;
		char full[1024];
		int n = prefix ? snprintf(full, sizeof(full), "%s.%s", prefix, name)
			       : snprintf(full, sizeof(full), "%s", name);
		if (n < 0 || (size_t)n >= sizeof(full))
			continue;
		json_t *doc = json_pack("{s:s, s:i}", "name", full, "ordinal", ++*ordinal);
		if (!doc)
			return -1;
		const char *type = str_at(f, "type");
		const char *desc = str_at(f, "description");
		if ((type && json_object_set_new(doc, "type", json_string(type)) < 0) ||
		    (desc && *desc && strlen(desc) <= CATALOG_TEXT_MAX &&
		     json_object_set_new(doc, "description", json_string(desc)) < 0) ||
		    json_array_append_new(out, doc) < 0)
			return -1;
		if (add_fields(out, json_object_get(f, "fields"), full, depth + 1, ordinal) < 0)
			return -1;
	}
	return 0;
}

/* TEXT cut to at most CATALOG_TEXT_MAX bytes at a character boundary (new reference). */
static json_t *bounded_text(const char *text)
{
	size_t n = strlen(text);
	if (n <= CATALOG_TEXT_MAX)
		return json_string(text);
	n = CATALOG_TEXT_MAX;
	while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
		n--;
	return json_stringn(text, n);
}

/* The facets every entity shares: description, owners, tags, "facets.<name>". */
static int apply_common_facets(json_t *doc, json_t *facets)
{
	const char *key;
	json_t *facet;
	json_t *props = json_object_get(doc, "properties");
	json_object_foreach(facets, key, facet) {
		if (facet_deleted(facet))
			continue;
		if (strcmp(key, "schema") == 0) {
			continue;  /* fields: datasets only, see build_dataset() */
		} else if (strcmp(key, "documentation") == 0) {
			const char *d = str_at(facet, "description");
			if (d && *d && json_object_set_new(doc, "description", bounded_text(d)) < 0)
				return -1;
		} else if (strcmp(key, "ownership") == 0) {
			json_t *owners = json_object_get(doc, "owners"), *o;
			size_t i;
			json_array_foreach(json_object_get(facet, "owners"), i, o) {
				const char *name = str_at(o, "name");
				if (name && *name && strlen(name) <= OL_NAME_MAX && !has_control(name) &&
				    json_array_append_new(owners, json_string(name)) < 0)
					return -1;
			}
		} else if (strcmp(key, "tags") == 0) {
			json_t *tags = json_object_get(doc, "tags"), *t;
			size_t i;
			json_array_foreach(json_object_get(facet, "tags"), i, t) {
				const char *k = str_at(t, "key"), *v = str_at(t, "value");
				char tag[OL_TAG_MAX + 1];
				if (!k || !*k || json_object_get(t, "field"))
					continue;  /* a column's tag, not the entity's */
				int n = (v && *v && strcmp(v, "true") != 0)
						? snprintf(tag, sizeof(tag), "%s:%s", k, v)
						: snprintf(tag, sizeof(tag), "%s", k);
				if (n < 0 || (size_t)n >= sizeof(tag) || has_control(tag))
					continue;
				if (json_array_append_new(tags, json_string(tag)) < 0)
					return -1;
			}
		} else if (strcmp(key, "sql") == 0) {
			const char *q = str_at(facet, "query");
			if (q && strlen(q) <= OL_FACET_MAX &&
			    json_object_set_new(props, "sql", json_string(q)) < 0)
				return -1;
		} else if (strcmp(key, "sourceCodeLocation") == 0) {
			if (facet_small(facet) &&
			    json_object_set(props, "source_code_location", facet) < 0)
				return -1;
		} else {
			char name[300];
			if ((size_t)snprintf(name, sizeof(name), "facets.%s", key) >= sizeof(name) ||
			    !facet_small(facet))
				continue;
			if (json_object_set(props, name, facet) < 0)
				return -1;
		}
	}
	return 0;
}

/* A new entity document for KIND:NS:NAME with empty properties, owners, tags. */
static json_t *new_doc(const char *kind, const char *ns, const char *name, const char *id)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "id", id, "kind", kind,
			 "namespace", ns, "name", name, "properties", json_object(), "owners",
			 json_array(), "tags", json_array());
}

/* Whether entity ID is in the catalog with a subtype already. */
static int has_subtype(struct catalog *cat, const char *id)
{
	json_t *doc = NULL;
	int yes = 0;
	if (catalog_entity_get(cat, id, &doc) == 0) {
		const char *s = str_at(doc, "subtype");
		yes = s && *s;
	}
	json_decref(doc);
	return yes;
}

/* Drop the empty owners/tags/properties the document started with. */
static void trim_doc(json_t *doc)
{
	static const char *const keys[] = { "owners", "tags" };
	for (size_t i = 0; i < 2; i++)
		if (json_array_size(json_object_get(doc, keys[i])) == 0)
			json_object_del(doc, keys[i]);
	if (json_object_size(json_object_get(doc, "properties")) == 0)
		json_object_del(doc, "properties");
}

/*
 * The dataset at JSON D (checked by check_dataset()) as an entity document
 * appended to PLAN->docs; its id into ID.
 */
static int build_dataset(struct catalog *cat, struct plan *plan, json_t *d, char *id,
			 size_t idlen)
{
	const char *ns = str_at(d, "namespace"), *name = str_at(d, "name");
	json_t *facets = json_object_get(d, "facets");
	json_t *doc = NULL;
	int rc = CATALOG_ENOMEM;

	if (catalog_id_format("dataset", ns, name, id, idlen) < 0)
		return CATALOG_EINVAL;
	doc = new_doc("dataset", ns, name, id);
	if (!doc)
		goto out;

	char platform[256];
	catalog_platform_of(ns, platform, sizeof(platform));
	if (!*platform && strlen(ns) < sizeof(platform) && strspn(ns,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == strlen(ns))
		lower(ns, platform, sizeof(platform));  /* "bigquery", "file" */
	if (*platform && json_object_set_new(doc, "platform", json_string(platform)) < 0)
		goto out;

	/* subtype: datasetType facet, else the first symlink's type */
	char subtype[64] = "";
	json_t *dt = json_object_get(facets, "datasetType");
	json_t *sym = json_array_get(json_object_get(json_object_get(facets, "symlinks"),
						     "identifiers"), 0);
	if (str_at(dt, "datasetType") && *str_at(dt, "datasetType"))
		lower(str_at(dt, "datasetType"), subtype, sizeof(subtype));
	else if (str_at(sym, "type") && *str_at(sym, "type"))
		lower(str_at(sym, "type"), subtype, sizeof(subtype));
	else if (!has_subtype(cat, id))
		snprintf(subtype, sizeof(subtype), "dataset");
	if (*subtype && json_object_set_new(doc, "subtype", json_string(subtype)) < 0)
		goto out;

	json_t *schema = json_object_get(facets, "schema");
	if (json_is_object(schema) && !facet_deleted(schema)) {
		json_t *fields = json_array();
		int ordinal = 0;
		if (!fields || json_object_set_new(doc, "fields", fields) < 0 ||
		    add_fields(fields, json_object_get(schema, "fields"), NULL, 0, &ordinal) < 0)
			goto out;
	}
	static const char *const facet_keys[] = { "facets", "inputFacets", "outputFacets" };
	for (size_t i = 0; i < 3; i++) {
		json_t *f = json_object_get(d, facet_keys[i]);
		if (json_is_object(f) && apply_common_facets(doc, f) < 0)
			goto out;
	}
	trim_doc(doc);
	if (json_array_append(plan->docs, doc) < 0)
		goto out;
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

static int add_edge(struct plan *plan, const char *src, const char *dst, const char *kind)
{
	json_t *e = json_pack("{s:s, s:s, s:s}", "src", src, "dst", dst, "kind", kind);
	if (!e || json_array_append_new(plan->edges, e) < 0)
		return CATALOG_ENOMEM;
	return 0;
}

/* --- checking ----------------------------------------------------------------- */

/* The dataset D at PATH ("inputs[0]", "dataset") has what an id needs. */
static int check_dataset(json_t *d, const char *path, char *err, size_t errlen)
{
	const char *ns, *name;
	json_t *o;
	int rc;
	if (!json_is_object(d))
		return fail(err, errlen, "%s: not an object", path);
	if ((rc = need_name(d, path, "namespace", &ns, err, errlen)) < 0 ||
	    (rc = need_name(d, path, "name", &name, err, errlen)) < 0 ||
	    (rc = want_object(d, path, "facets", &o, err, errlen)) < 0 ||
	    (rc = want_object(d, path, "inputFacets", &o, err, errlen)) < 0 ||
	    (rc = want_object(d, path, "outputFacets", &o, err, errlen)) < 0)
		return rc;
	char id[CATALOG_ID_MAX];
	if (catalog_id_format("dataset", ns, name, id, sizeof(id)) < 0)
		return fail(err, errlen, "%s: id longer than %d bytes", path, CATALOG_ID_MAX - 1);
	return 0;
}

/* EVENT[KEY] is absent, or an array of checked datasets. */
static int check_datasets(json_t *event, const char *key, char *err, size_t errlen)
{
	json_t *list = json_object_get(event, key), *d;
	size_t i;
	if (!list || json_is_null(list))
		return 0;
	if (!json_is_array(list))
		return fail(err, errlen, "%s: not an array", key);
	if (json_array_size(list) > OL_DATASETS_MAX)
		return fail(err, errlen, "%s: more than %d datasets", key, OL_DATASETS_MAX);
	json_array_foreach(list, i, d) {
		char path[64];
		snprintf(path, sizeof(path), "%s[%zu]", key, i);
		int rc = check_dataset(d, path, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The job and its inputs and outputs, for a RunEvent or a JobEvent. */
static int plan_job(struct catalog *cat, struct plan *plan, json_t *event, json_t *run_facets,
		    char *err, size_t errlen)
{
	json_t *job = json_object_get(event, "job"), *facets, *doc = NULL;
	const char *ns, *name;
	int rc;

	if (!job)
		return fail(err, errlen, "job: missing");
	if (!json_is_object(job))
		return fail(err, errlen, "job: not an object");
	if ((rc = need_name(job, "job", "namespace", &ns, err, errlen)) < 0 ||
	    (rc = need_name(job, "job", "name", &name, err, errlen)) < 0 ||
	    (rc = want_object(job, "job", "facets", &facets, err, errlen)) < 0 ||
	    (rc = check_datasets(event, "inputs", err, errlen)) < 0 ||
	    (rc = check_datasets(event, "outputs", err, errlen)) < 0)
		return rc;
	if (catalog_id_format("job", ns, name, plan->job_id, sizeof(plan->job_id)) < 0)
		return fail(err, errlen, "job: id longer than %d bytes", CATALOG_ID_MAX - 1);

	rc = CATALOG_ENOMEM;
	doc = new_doc("job", ns, name, plan->job_id);
	if (!doc)
		goto out;

	json_t *jt = json_object_get(facets, "jobType");
	char subtype[64] = "", platform[256] = "";
	if (str_at(jt, "jobType") && *str_at(jt, "jobType"))
		lower(str_at(jt, "jobType"), subtype, sizeof(subtype));
	else if (!has_subtype(cat, plan->job_id))
		snprintf(subtype, sizeof(subtype), "job");
	if (*subtype && json_object_set_new(doc, "subtype", json_string(subtype)) < 0)
		goto out;

	catalog_platform_of(ns, platform, sizeof(platform));
	if (!*platform && str_at(jt, "integration"))
		lower(str_at(jt, "integration"), platform, sizeof(platform));
	if (!*platform)
		lower(str_at(json_object_get(run_facets, "processing_engine"), "name"), platform,
		      sizeof(platform));
	if (*platform && json_object_set_new(doc, "platform", json_string(platform)) < 0)
		goto out;
	if (facets && apply_common_facets(doc, facets) < 0)
		goto out;

	/* the parent run facet: the job this one runs inside (a DAG, a Spark app) */
	json_t *pjob = json_object_get(json_object_get(run_facets, "parent"), "job");
	const char *pns = str_at(pjob, "namespace"), *pname = str_at(pjob, "name");
	char parent_id[CATALOG_ID_MAX];
	if (pns && *pns && pname && *pname && !has_control(pns) && !has_control(pname) &&
	    catalog_id_format("job", pns, pname, parent_id, sizeof(parent_id)) == 0 &&
	    strcmp(parent_id, plan->job_id) != 0) {
		if (json_object_set_new(json_object_get(doc, "properties"), "parent",
					json_string(parent_id)) < 0 ||
		    add_edge(plan, parent_id, plan->job_id, "relationship") < 0)
			goto out;
	}
	trim_doc(doc);
	if (json_array_append(plan->docs, doc) < 0)
		goto out;

	static const char *const sides[] = { "inputs", "outputs" };
	for (int side = 0; side < 2; side++) {
		size_t i;
		json_t *d;
		json_array_foreach(json_object_get(event, sides[side]), i, d) {
			char id[CATALOG_ID_MAX];
			if ((rc = build_dataset(cat, plan, d, id, sizeof(id))) < 0)
				goto out;
			rc = side == 0 ? add_edge(plan, id, plan->job_id, "lineage")
				       : add_edge(plan, plan->job_id, id, "lineage");
			if (rc < 0)
				goto out;
		}
	}
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

/* Check EVENT and turn it into PLAN.  Nothing is written. */
static int plan_event(struct catalog *cat, struct plan *plan, json_t *event, char *err,
		      size_t errlen)
{
	char shown[OL_SHOW_MAX + 8];
	int rc;

	if (!json_is_object(event))
		return fail(err, errlen, "event: not an object");

	json_t *t = json_object_get(event, "eventTime");
	if (!t)
		return fail(err, errlen, "eventTime: missing");
	if (!json_is_string(t))
		return fail(err, errlen, "eventTime: not a string");
	if (rfc3339_utc(json_string_value(t), plan->event_time, sizeof(plan->event_time)) < 0)
		return fail(err, errlen, "eventTime: '%s' is not an RFC 3339 date-time",
			    show(json_string_value(t), shown, sizeof(shown)));

	json_t *type = json_object_get(event, "eventType");
	if (type && !json_is_null(type)) {
		if (!json_is_string(type))
			return fail(err, errlen, "eventType: not a string");
		size_t i = 0;
		while (i < 6 && strcmp(json_string_value(type), event_types[i]) != 0)
			i++;
		if (i == 6)
			return fail(err, errlen, "eventType: '%s' is not one of START, RUNNING, "
				    "COMPLETE, ABORT, FAIL, OTHER",
				    show(json_string_value(type), shown, sizeof(shown)));
		plan->state = event_types[i];
	}

	/* A RunEvent has a run (and maybe an eventType); a DatasetEvent a dataset;
	 * a JobEvent a job and no run. */
	json_t *run = json_object_get(event, "run");
	if (run || plan->state) {
		json_t *run_facets;
		const char *run_id;
		if (!run)
			return fail(err, errlen, "run: missing");
		if (!json_is_object(run))
			return fail(err, errlen, "run: not an object");
		json_t *rid = json_object_get(run, "runId");
		if (!rid)
			return fail(err, errlen, "run.runId: missing");
		if (!json_is_string(rid))
			return fail(err, errlen, "run.runId: not a string");
		run_id = json_string_value(rid);
		if (!is_uuid(run_id))
			return fail(err, errlen, "run.runId: '%s' is not a uuid",
				    show(run_id, shown, sizeof(shown)));
		if ((rc = want_object(run, "run", "facets", &run_facets, err, errlen)) < 0)
			return rc;
		plan->has_run = 1;
		plan->run_id = run_id;
		if (!plan->state)
			plan->state = "OTHER";
		return plan_job(cat, plan, event, run_facets, err, errlen);
	}
	json_t *dataset = json_object_get(event, "dataset");
	if (dataset && !json_object_get(event, "job")) {
		char id[CATALOG_ID_MAX];
		if ((rc = check_dataset(dataset, "dataset", err, errlen)) < 0)
			return rc;
		return build_dataset(cat, plan, dataset, id, sizeof(id));
	}
	return plan_job(cat, plan, event, NULL, err, errlen);
}

int openlineage_ingest(struct catalog *cat, json_t *event, char *err, size_t errlen)
{
	struct plan plan = { 0 };
	struct catalog_batch *b = NULL;
	size_t i;
	json_t *v;
	int rc;

	plan.docs = json_array();
	plan.edges = json_array();
	if (!plan.docs || !plan.edges) {
		rc = CATALOG_ENOMEM;
		snprintf(err, errlen, "cannot ingest openlineage event: out of memory");
		goto out;
	}
	rc = plan_event(cat, &plan, event, err, errlen);
	if (rc == CATALOG_ENOMEM)
		snprintf(err, errlen, "cannot ingest openlineage event: out of memory");
	if (rc < 0)
		goto out;

	b = catalog_batch_begin(cat, OL_SOURCE, 0);
	if (!b) {
		rc = CATALOG_EIO;
		snprintf(err, errlen, "cannot begin a catalog batch for openlineage event");
		goto out;
	}
	json_array_foreach(plan.docs, i, v) {
		if ((rc = catalog_batch_entity(b, v, err, errlen)) < 0)
			goto out;
	}
	json_array_foreach(plan.edges, i, v) {
		rc = catalog_batch_edge(b, str_at(v, "src"), str_at(v, "dst"), str_at(v, "kind"),
					NULL, err, errlen);
		if (rc < 0)
			goto out;
	}
	rc = catalog_batch_commit(b, NULL, err, errlen);
	b = NULL;
	if (rc < 0)
		goto out;
	if (plan.has_run)
		rc = catalog_run_record(cat, plan.run_id, plan.job_id, plan.state, plan.event_time,
					event, err, errlen);
out:
	catalog_batch_abort(b);
	json_decref(plan.docs);
	json_decref(plan.edges);
	return rc;
}
