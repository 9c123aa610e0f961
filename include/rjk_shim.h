/* The few httpd/APR operations that only exist as C macros or variadic functions. */
#ifndef RJK_SHIM_H
#define RJK_SHIM_H
#include <httpd.h>
#include <http_log.h>
#include <apr_buckets.h>

/* Log a preformatted message; the text is never used as a format string. */
void rjk_log_error(const char *file, int line, int module_index, int level,
                   apr_status_t status, const server_rec *s, const char *msg);
void rjk_log_rerror(const char *file, int line, int module_index, int level,
                    apr_status_t status, const request_rec *r, const char *msg);

/* Bucket-brigade ring operations (APR_BRIGADE_* / APR_BUCKET_* macros). */
int rjk_brigade_empty(apr_bucket_brigade *bb);
apr_bucket *rjk_brigade_first(apr_bucket_brigade *bb);
apr_bucket *rjk_brigade_sentinel(apr_bucket_brigade *bb);
apr_bucket *rjk_bucket_next(apr_bucket *b);
int rjk_bucket_is_eos(apr_bucket *b);
int rjk_bucket_is_flush(apr_bucket *b);
int rjk_bucket_is_metadata(apr_bucket *b);
apr_status_t rjk_bucket_read(apr_bucket *b, const char **data, apr_size_t *len);
void rjk_bucket_delete(apr_bucket *b);
void rjk_brigade_insert_tail(apr_bucket_brigade *bb, apr_bucket *b);

#endif
