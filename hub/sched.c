/*
 * The collector scheduler; see sched.h.
 *
 * One mutex guards every job's state; a worker holds it only to pick a job and
 * to store the outcome, never while a collector runs or the catalog is
 * written.  Due times are kept on the monotonic clock (so a wall-clock jump
 * does not stall or rush runs) and mirrored in wall-clock milliseconds for
 * the catalog and the API.
 */
#include "hub/sched.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "hub/collector.h"
#include "hub/http.h"
#include "hub/log.h"
#include "hub/plugins.h"

#define DEFAULT_WORKERS 2
#define WORKERS_MAX 32
#define DEFAULT_MIN_INTERVAL_MS 1000L
#define DEFAULT_MIN_BACKOFF_MS 5000L
#define DEFAULT_MAX_BACKOFF_MS 3600000L
#define IDLE_WAIT_MS 60000LL
#define RUNS_DEFAULT 20
#define RUNS_MAX 1000

struct job {
	char name[COLLECTOR_NAME_MAX + 1];
	char path[4096];
	char lib_dir[4096];
	const json_t *settings;        /* borrowed from the config */
	struct collector_settings set;
	char bad[256];                 /* why the settings cannot be used, or "" */
	/* guarded by sched.lock */
	int failures;
	int disabled;
	int running;
	int queued;                    /* a run was asked for */
	long long due_mono;            /* ms, CLOCK_MONOTONIC */
	long long next_wall;           /* ms since the epoch; 0: none planned */
	long runs_ok, runs_failed;     /* since start */
	long last_duration_ms;
	json_t *last;                  /* {"status","started_at","ended_at","duration_ms","counts","error"} */
	json_t *tile;                  /* of the last successful run */
	long long tile_at;
	json_t *metrics;               /* of the last successful run */
};

struct sched {
	struct sched_env env;
	char **dirs;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stopping;
	pthread_t threads[WORKERS_MAX];
	int nthreads;
	struct job *jobs;
	int njobs;
};

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *time_json(long long ms)
{
	char buf[64];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || !gmtime_r(&t, &tm))
		return json_null();
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return json_string(buf);
}

static long interval_of(const struct sched *s, const struct job *j)
{
	return j->set.interval_ms > s->env.min_interval_ms ? j->set.interval_ms
							   : s->env.min_interval_ms;
}

/* The wait after the FAILURES-th failure in a row. */
static long long backoff_of(const struct sched *s, const struct job *j)
{
	double interval = (double)interval_of(s, j);
	double cap = (double)(s->env.max_backoff_ms > interval_of(s, j) ? s->env.max_backoff_ms
									: interval_of(s, j));
	int n = j->failures > 1 ? j->failures - 1 : 0;
	double d = interval * pow(2.0, n > 60 ? 60 : n);

	if (d > cap)
		d = cap;
	if (d < (double)s->env.min_backoff_ms)
		d = (double)s->env.min_backoff_ms;
	return (long long)d;
}

static struct job *find(struct sched *s, const char *name)
{
	for (int i = 0; name && i < s->njobs; i++)
		if (strcmp(s->jobs[i].name, name) == 0)
			return &s->jobs[i];
	return NULL;
}

/* --- discovery --------------------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct job *)a)->name, ((const struct job *)b)->name);
}

/* Fill J's state from the catalog. */
static void load_state(struct sched *s, struct job *j, json_t *last_runs)
{
	struct catalog_collector_state st;
	json_t *last = json_object_get(last_runs, j->name);
	long long now_w = wall_ms(), now_m = mono_ms();

	j->due_mono = now_m;
	if (catalog_collector_state_get(s->env.cat, j->name, &st) == 0) {
		j->failures = st.failures;
		j->disabled = st.disabled;
		j->tile = st.tile;
		if (st.next_run > now_w)
			j->due_mono = now_m + (st.next_run - now_w);
		j->next_wall = j->disabled ? 0 : st.next_run > now_w ? st.next_run : now_w;
	} else {
		j->next_wall = now_w;
	}
	if (last) {
		j->last = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "status",
				    json_object_get(last, "status"), "started_at",
				    json_object_get(last, "started_at"), "ended_at",
				    json_object_get(last, "ended_at"), "duration_ms",
				    json_object_get(last, "duration_ms"), "counts",
				    json_object_get(last, "counts"), "error",
				    json_object_get(last, "error"));
		j->last_duration_ms = (long)json_integer_value(json_object_get(last, "duration_ms"));
	}
}

struct sched *sched_create(const struct sched_env *env, char *err, size_t errlen)
{
	struct sched *s = calloc(1, sizeof(*s));
	json_t *last_runs = NULL;
	const char *name;
	json_t *settings;
	int ndirs = 0, ok = 0;

	if (!s) {
		snprintf(err, errlen, "cannot start the scheduler: out of memory");
		return NULL;
	}
	s->env = *env;
	if (s->env.workers <= 0)
		s->env.workers = DEFAULT_WORKERS;
	if (s->env.workers > WORKERS_MAX)
		s->env.workers = WORKERS_MAX;
	if (s->env.min_interval_ms <= 0)
		s->env.min_interval_ms = DEFAULT_MIN_INTERVAL_MS;
	if (s->env.min_backoff_ms <= 0)
		s->env.min_backoff_ms = DEFAULT_MIN_BACKOFF_MS;
	if (s->env.max_backoff_ms <= 0)
		s->env.max_backoff_ms = DEFAULT_MAX_BACKOFF_MS;
	pthread_mutex_init(&s->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	while (env->dirs && env->dirs[ndirs])
		ndirs++;
	s->dirs = calloc((size_t)ndirs + 1, sizeof(char *));
	if (!s->dirs)
		goto oom;
	for (int i = 0; i < ndirs; i++)
		if (!(s->dirs[i] = strdup(env->dirs[i])))
			goto oom;
	s->env.dirs = NULL;
	s->jobs = calloc(json_object_size(env->plugins_cfg) + 1, sizeof(struct job));
	if (!s->jobs)
		goto oom;
	if (env->cat && catalog_collector_last_runs(env->cat, &last_runs) != 0) {
		snprintf(err, errlen, "cannot start the scheduler: cannot read the collector runs "
				      "in the catalog");
		goto out;
	}
	json_object_foreach((json_t *)env->plugins_cfg, name, settings) {
		struct job *j = &s->jobs[s->njobs];
		int found = 0;

		if (!collector_name_valid(name))
			continue;
		for (int i = 0; i < ndirs && !found; i++) {
			snprintf(j->path, sizeof(j->path), "%s/%s.lua", s->dirs[i], name);
			found = access(j->path, R_OK) == 0;
		}
		if (!found) {
			memset(j, 0, sizeof(*j));
			continue;
		}
		snprintf(j->name, sizeof(j->name), "%s", name);
		if (collector_lib_dir(j->path, j->lib_dir, sizeof(j->lib_dir)) < 0)
			j->lib_dir[0] = '\0';
		j->settings = settings;
		if (collector_settings_parse(settings, &j->set, j->bad, sizeof(j->bad)) < 0) {
			char why[sizeof(j->bad)];

			memcpy(why, j->bad, sizeof(why));
			snprintf(j->bad, sizeof(j->bad), "settings: %.200s", why);
			log_event(LOG_ERROR, "collector settings not valid", "collector", name, "detail",
				  j->bad, NULL);
		}
		if (env->cat)
			load_state(s, j, last_runs);
		else
			j->due_mono = mono_ms();
		s->njobs++;
	}
	qsort(s->jobs, (size_t)s->njobs, sizeof(struct job), by_name);
	ok = 1;
	goto out;
oom:
	snprintf(err, errlen, "cannot start the scheduler: out of memory");
out:
	json_decref(last_runs);
	if (!ok) {
		sched_destroy(s);
		s = NULL;
	}
	return s;
}

int sched_count(struct sched *s)
{
	return s ? s->njobs : 0;
}

/* --- running ----------------------------------------------------------------------------- */

static void run_job(struct sched *s, struct job *j, int manual)
{
	struct collector_spec spec = {
		.name = j->name,
		.path = j->path,
		.lib_dir = j->lib_dir[0] ? j->lib_dir : NULL,
		.settings = j->settings,
		.set = j->set,
	};
	struct collector_env env = { .cat = s->env.cat, .plugins = s->env.plugins, .echo_logs = 1 };
	struct collector_result r;
	struct catalog_collector_state st = { 0 };
	json_t *counts = NULL, *last = NULL;
	char err[512], ms[32], n_ent[32], n_edge[32];
	int newly_disabled = 0;

	log_event(LOG_DEBUG, "collector run starting", "collector", j->name, "manual",
		  manual ? "true" : "false", NULL);
	collector_run(&spec, &env, &r);
	counts = collector_result_counts(&r);
	if (s->env.cat) {
		struct catalog_collector_run rec = {
			.collector = j->name,
			.started_at = r.started_at,
			.ended_at = r.ended_at,
			.status = r.ok ? "ok" : "failed",
			.error = r.ok ? NULL : r.error,
			.counts = counts,
			.log = r.log,
		};

		if (catalog_collector_run_record(s->env.cat, &rec, NULL, err, sizeof(err)) != 0)
			log_event(LOG_ERROR, "cannot record the collector run", "collector", j->name,
				  "detail", err, NULL);
	}
	last = json_pack("{s:s, s:o, s:o, s:I, s:O, s:s?}", "status", r.ok ? "ok" : "failed",
			 "started_at", time_json(r.started_at), "ended_at", time_json(r.ended_at),
			 "duration_ms", (json_int_t)r.duration_ms, "counts",
			 counts ? counts : json_null(), "error", r.ok ? NULL : r.error);

	pthread_mutex_lock(&s->lock);
	long long delay;

	if (r.ok) {
		j->failures = 0;
		j->disabled = 0;
		j->runs_ok++;
		delay = interval_of(s, j);
		json_decref(j->tile);
		j->tile = json_incref(r.tile);
		j->tile_at = r.ended_at;
		json_decref(j->metrics);
		j->metrics = json_incref(r.metrics);
	} else {
		/* The dashboard shows the failure: the tile the failed run set (a
		 * collector says "down" that way), else the last one as "unknown". */
		json_t *t = r.tile ? json_deep_copy(r.tile)
			  : j->tile ? json_deep_copy(j->tile)
				    : NULL;

		if (t) {
			if (!r.tile)
				json_object_set_new(t, "status", json_string("unknown"));
			json_object_set_new(t, "error", json_string(r.error));
			json_decref(j->tile);
			j->tile = t;
			j->tile_at = r.ended_at;
		}
		j->failures++;
		j->runs_failed++;
		if (j->failures >= j->set.max_failures && !j->disabled) {
			j->disabled = 1;
			newly_disabled = 1;
		}
		delay = backoff_of(s, j);
	}
	j->due_mono = mono_ms() + delay;
	j->next_wall = j->disabled ? 0 : wall_ms() + delay;
	j->last_duration_ms = r.duration_ms;
	json_decref(j->last);
	j->last = last;
	last = NULL;
	j->running = 0;
	st.failures = j->failures;
	st.disabled = j->disabled;
	st.next_run = j->next_wall;
	st.tile = json_incref(j->tile);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);

	if (s->env.cat &&
	    catalog_collector_state_put(s->env.cat, j->name, &st, err, sizeof(err)) != 0)
		log_event(LOG_ERROR, "cannot store the collector state", "collector", j->name,
			  "detail", err, NULL);
	snprintf(ms, sizeof(ms), "%ld", r.duration_ms);
	snprintf(n_ent, sizeof(n_ent), "%ld", r.entities);
	snprintf(n_edge, sizeof(n_edge), "%ld", r.edges);
	if (r.ok)
		log_event(LOG_INFO, "collector run", "collector", j->name, "status", "ok",
			  "duration_ms", ms, "entities", n_ent, "edges", n_edge, NULL);
	else
		log_event(LOG_WARN, "collector run", "collector", j->name, "status", "failed",
			  "duration_ms", ms, "error", r.error, NULL);
	if (newly_disabled) {
		char n[16];

		snprintf(n, sizeof(n), "%d", st.failures);
		log_event(LOG_ERROR, "collector disabled after failures in a row", "collector",
			  j->name, "failures", n, "hint",
			  "fix it, then POST /api/v1/plugins/NAME/run to run it again", NULL);
	}
	json_decref(st.tile);
	json_decref(counts);
	json_decref(last);
	collector_result_release(&r);
}

/* The job a worker should run now, or NULL; *WAKE gets when to look again. */
static struct job *pick(struct sched *s, long long now, long long *wake)
{
	struct job *best = NULL;

	*wake = now + IDLE_WAIT_MS;
	for (int i = 0; i < s->njobs; i++) {
		struct job *j = &s->jobs[i];

		if (j->running || j->bad[0])
			continue;
		if (j->queued)
			return j;
		if (!j->set.enabled || j->disabled)
			continue;
		if (j->due_mono <= now) {
			if (!best || j->due_mono < best->due_mono)
				best = j;
		} else if (j->due_mono < *wake) {
			*wake = j->due_mono;
		}
	}
	return best;
}

static void *worker(void *arg)
{
	struct sched *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		long long wake;
		struct job *j = pick(s, mono_ms(), &wake);

		if (!j) {
			struct timespec ts = { .tv_sec = (time_t)(wake / 1000),
					       .tv_nsec = (long)(wake % 1000) * 1000000L };

			pthread_cond_timedwait(&s->cond, &s->lock, &ts);
			continue;
		}
		int manual = j->queued;

		j->queued = 0;
		j->running = 1;
		pthread_mutex_unlock(&s->lock);
		run_job(s, j, manual);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int sched_start(struct sched *s)
{
	char n[16], w[16];

	if (!s || s->nthreads)
		return -1;
	for (int i = 0; i < s->env.workers; i++) {
		if (pthread_create(&s->threads[i], NULL, worker, s) != 0) {
			log_event(LOG_ERROR, "cannot start a scheduler worker", NULL);
			break;
		}
		s->nthreads++;
	}
	snprintf(n, sizeof(n), "%d", s->njobs);
	snprintf(w, sizeof(w), "%d", s->nthreads);
	log_event(LOG_INFO, "collectors scheduled", "collectors", n, "workers", w, NULL);
	return s->nthreads ? 0 : -1;
}

void sched_destroy(struct sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	for (int i = 0; s->jobs && i < s->njobs; i++) {
		json_decref(s->jobs[i].last);
		json_decref(s->jobs[i].tile);
		json_decref(s->jobs[i].metrics);
	}
	free(s->jobs);
	for (int i = 0; s->dirs && s->dirs[i]; i++)
		free(s->dirs[i]);
	free(s->dirs);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int sched_run_now(struct sched *s, const char *name)
{
	struct job *j;
	int rc = SCHED_OK;

	pthread_mutex_lock(&s->lock);
	j = find(s, name);
	if (!j)
		rc = SCHED_ENOTFOUND;
	else if (j->bad[0])
		rc = SCHED_EINVAL;
	else if (j->running)
		rc = SCHED_EBUSY;
	else {
		j->queued = 1;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* --- reading ------------------------------------------------------------------------------- */

/* J as JSON; caller holds the lock. */
static json_t *job_json(struct sched *s, struct job *j)
{
	const char *status;
	json_t *last = j->last;
	json_t *o;

	if (j->running)
		status = "running";
	else if (j->bad[0])
		status = "failed";
	else if (!j->set.enabled || j->disabled)
		status = "disabled";
	else if (!last)
		status = "never";
	else
		status = json_string_value(json_object_get(last, "status"));
	o = json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:f, s:i, s:i, s:I}", "name", j->name, "type",
		      "collector", "status", status ? status : "never", "enabled",
		      j->set.enabled, "queued", j->queued, "path", j->path, "interval_s",
		      (double)interval_of(s, j) / 1000.0, "failures", j->failures, "max_failures",
		      j->set.max_failures, "runs", (json_int_t)(j->runs_ok + j->runs_failed));
	if (!o)
		return NULL;
	json_object_set_new(o, "last_run", last ? json_incref(json_object_get(last, "started_at"))
						: json_null());
	json_object_set_new(o, "last_status",
			    last ? json_incref(json_object_get(last, "status")) : json_null());
	json_object_set_new(o, "next_run",
			    j->bad[0] || !j->set.enabled ? json_null() : time_json(j->next_wall));
	json_object_set_new(o, "duration_ms",
			    last ? json_integer(j->last_duration_ms) : json_null());
	json_object_set_new(o, "counts",
			    last && json_object_get(last, "counts")
				    ? json_incref(json_object_get(last, "counts"))
				    : json_null());
	if (j->bad[0])
		json_object_set_new(o, "error", json_string(j->bad));
	else if (last && json_is_string(json_object_get(last, "error")))
		json_object_set_new(o, "error", json_incref(json_object_get(last, "error")));
	else
		json_object_set_new(o, "error", json_null());
	json_object_set_new(o, "settings", collector_redact(j->settings));
	return o;
}

json_t *sched_list(struct sched *s)
{
	json_t *list = json_array();

	if (!s || !list)
		return list;
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->njobs; i++)
		json_array_append_new(list, job_json(s, &s->jobs[i]));
	pthread_mutex_unlock(&s->lock);
	return list;
}

json_t *sched_get(struct sched *s, const char *name)
{
	json_t *o = NULL;
	struct job *j;

	if (!s)
		return NULL;
	pthread_mutex_lock(&s->lock);
	j = find(s, name);
	if (j)
		o = job_json(s, j);
	pthread_mutex_unlock(&s->lock);
	return o;
}

json_t *sched_tiles(struct sched *s)
{
	json_t *list = json_array();

	if (!s || !list)
		return list;
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->njobs; i++) {
		struct job *j = &s->jobs[i];
		json_t *t;

		if (!j->tile)
			continue;
		t = json_deep_copy(j->tile);
		if (!t)
			continue;
		json_object_set_new(t, "plugin", json_string(j->name));
		json_object_set_new(t, "type", json_string("collector"));
		json_object_set_new(t, "updated_at", time_json(j->tile_at));
		json_array_append_new(list, t);
	}
	pthread_mutex_unlock(&s->lock);
	return list;
}

/* Append S escaped as a Prometheus label value. */
static void add_label_value(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			strbuf_adds(sb, "\\\\");
		else if (*s == '"')
			strbuf_adds(sb, "\\\"");
		else if (*s == '\n')
			strbuf_adds(sb, "\\n");
		else
			strbuf_add(sb, s, 1);
	}
}

void sched_metrics(struct sched *s, struct strbuf *sb)
{
	json_t *series = json_object(); /* metric name -> [ text lines ] */
	const char *name;
	json_t *lines;

	if (!s || !series) {
		json_decref(series);
		return;
	}
	strbuf_adds(sb, "# HELP terrarium_scheduler_runs_total Collector runs since start, by "
			"outcome.\n# TYPE terrarium_scheduler_runs_total counter\n");
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->njobs; i++)
		strbuf_addf(sb,
			    "terrarium_scheduler_runs_total{collector=\"%s\",status=\"ok\"} %ld\n"
			    "terrarium_scheduler_runs_total{collector=\"%s\",status=\"failed\"} %ld\n",
			    s->jobs[i].name, s->jobs[i].runs_ok, s->jobs[i].name,
			    s->jobs[i].runs_failed);
	strbuf_adds(sb, "# HELP terrarium_scheduler_run_duration_seconds The last run's "
			"duration.\n# TYPE terrarium_scheduler_run_duration_seconds gauge\n");
	for (int i = 0; i < s->njobs; i++)
		strbuf_addf(sb, "terrarium_scheduler_run_duration_seconds{collector=\"%s\"} %.3f\n",
			    s->jobs[i].name, (double)s->jobs[i].last_duration_ms / 1000.0);
	strbuf_adds(sb, "# HELP terrarium_scheduler_failures Failed runs in a row.\n"
			"# TYPE terrarium_scheduler_failures gauge\n");
	for (int i = 0; i < s->njobs; i++)
		strbuf_addf(sb, "terrarium_scheduler_failures{collector=\"%s\"} %d\n",
			    s->jobs[i].name, s->jobs[i].failures);
	strbuf_adds(sb, "# HELP terrarium_scheduler_disabled 1 when the collector is disabled.\n"
			"# TYPE terrarium_scheduler_disabled gauge\n");
	for (int i = 0; i < s->njobs; i++)
		strbuf_addf(sb, "terrarium_scheduler_disabled{collector=\"%s\"} %d\n",
			    s->jobs[i].name,
			    s->jobs[i].disabled || !s->jobs[i].set.enabled || s->jobs[i].bad[0]);
	/* The collectors' own series, grouped by metric name. */
	for (int i = 0; i < s->njobs; i++) {
		size_t k;
		json_t *m;

		json_array_foreach(s->jobs[i].metrics, k, m) {
			char full[160];
			struct strbuf line;
			const char *lk;
			json_t *lv;

			snprintf(full, sizeof(full), "terrarium_collector_%s",
				 json_string_value(json_object_get(m, "name")));
			strbuf_init(&line, 4096);
			strbuf_addf(&line, "%s{collector=\"%s\"", full, s->jobs[i].name);
			json_object_foreach(json_object_get(m, "labels"), lk, lv) {
				strbuf_addf(&line, ",%s=\"", lk);
				add_label_value(&line, json_string_value(lv));
				strbuf_adds(&line, "\"");
			}
			strbuf_addf(&line, "} %.17g\n", json_number_value(json_object_get(m, "value")));
			lines = json_object_get(series, full);
			if (!lines) {
				lines = json_array();
				json_object_set_new(series, full, lines);
			}
			if (!line.failed && line.buf)
				json_array_append_new(lines, json_string(line.buf));
			strbuf_release(&line);
		}
	}
	pthread_mutex_unlock(&s->lock);
	json_object_foreach(series, name, lines) {
		size_t k;
		json_t *l;

		strbuf_addf(sb, "# TYPE %s gauge\n", name);
		json_array_foreach(lines, k, l)
			strbuf_adds(sb, json_string_value(l));
	}
	json_decref(series);
}

/* --- HTTP ------------------------------------------------------------------------------------ */

static void get_plugins(struct http_req *req)
{
	struct sched *s = req->ud;
	json_t *list = plugins_list(s->env.plugins);
	json_t *collectors = sched_list(s);
	size_t i;
	json_t *p;

	json_array_foreach(list, i, p)
		json_object_set_new(p, "type", json_string("native"));
	json_array_extend(list, collectors);
	json_decref(collectors);
	http_reply_json(req, 200, json_pack("{s:o}", "plugins", list));
}

static void post_run(struct http_req *req)
{
	struct sched *s = req->ud;
	const char *name = req->params[0];
	json_t *c;

	switch (sched_run_now(s, name)) {
	case SCHED_OK:
		log_event(LOG_INFO, "collector run requested", "collector", name, NULL);
		http_reply_json(req, 202, json_pack("{s:b}", "queued", 1));
		break;
	case SCHED_EBUSY:
		http_error(req, 409, "busy", "collector '%s' is running now", name);
		break;
	case SCHED_EINVAL:
		c = sched_get(s, name);
		http_error(req, 409, "not runnable", "collector '%s' cannot run: %s", name,
			   c ? json_string_value(json_object_get(c, "error")) : "bad settings");
		json_decref(c);
		break;
	default:
		http_error(req, 404, "not found", "no collector '%s'", name);
		break;
	}
}

static void get_runs(struct http_req *req)
{
	struct sched *s = req->ud;
	const char *name = req->params[0];
	json_t *runs = NULL;
	long limit;

	if (!find(s, name)) {
		http_error(req, 404, "not found", "no collector '%s'", name);
		return;
	}
	if (http_query_int(req, "limit", 1, RUNS_MAX, RUNS_DEFAULT, &limit) < 0)
		return;
	if (catalog_collector_runs(s->env.cat, name, (int)limit, &runs) != 0) {
		http_error(req, 500, "internal", "cannot read the runs of collector '%s'", name);
		return;
	}
	http_reply_json(req, 200, json_pack("{s:s, s:o}", "collector", name, "runs", runs));
}

int sched_http_register(struct sched *s, struct http_server *srv)
{
	if (http_route(srv, "GET", "/api/v1/plugins", AUTH_READ, get_plugins, s) < 0 ||
	    http_route(srv, "POST", "/api/v1/plugins/{name}/run", AUTH_WRITE, post_run, s) < 0 ||
	    http_route(srv, "GET", "/api/v1/plugins/{name}/runs", AUTH_READ, get_runs, s) < 0)
		return -1;
	return 0;
}
