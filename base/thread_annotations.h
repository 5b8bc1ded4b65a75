#pragma once
// Clang thread-safety annotations; no-ops under GCC, which still documents
// which mutex guards which field.

#if defined(__clang__)
#define PANGAEA_TA(x) __attribute__((x))
#else
#define PANGAEA_TA(x)
#endif

#define GUARDED_BY(m) PANGAEA_TA(guarded_by(m))
#define PT_GUARDED_BY(m) PANGAEA_TA(pt_guarded_by(m))
#define REQUIRES(...) PANGAEA_TA(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) PANGAEA_TA(locks_excluded(__VA_ARGS__))
