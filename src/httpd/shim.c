/* C shim: only what Rust cannot call directly because it is a macro or variadic. */
#include "rjk_shim.h"

void rjk_log_error(const char *file, int line, int module_index, int level,
                   apr_status_t status, const server_rec *s, const char *msg)
{
    ap_log_error_(file, line, module_index, level, status, s, "%s", msg);
}

void rjk_log_rerror(const char *file, int line, int module_index, int level,
                    apr_status_t status, const request_rec *r, const char *msg)
{
    ap_log_rerror_(file, line, module_index, level, status, r, "%s", msg);
}

int rjk_brigade_empty(apr_bucket_brigade *bb) { return APR_BRIGADE_EMPTY(bb); }
apr_bucket *rjk_brigade_first(apr_bucket_brigade *bb) { return APR_BRIGADE_FIRST(bb); }
apr_bucket *rjk_brigade_sentinel(apr_bucket_brigade *bb) { return APR_BRIGADE_SENTINEL(bb); }
apr_bucket *rjk_bucket_next(apr_bucket *b) { return APR_BUCKET_NEXT(b); }
int rjk_bucket_is_eos(apr_bucket *b) { return APR_BUCKET_IS_EOS(b); }
int rjk_bucket_is_flush(apr_bucket *b) { return APR_BUCKET_IS_FLUSH(b); }
int rjk_bucket_is_metadata(apr_bucket *b) { return APR_BUCKET_IS_METADATA(b); }
apr_status_t rjk_bucket_read(apr_bucket *b, const char **data, apr_size_t *len)
{
    return apr_bucket_read(b, data, len, APR_BLOCK_READ);
}
void rjk_bucket_delete(apr_bucket *b) { apr_bucket_delete(b); }
void rjk_brigade_insert_tail(apr_bucket_brigade *bb, apr_bucket *b) { APR_BRIGADE_INSERT_TAIL(bb, b); }
