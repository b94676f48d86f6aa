// request.h is an interface only (Request and RequestSource have no out-of-line members). Compiling it alone here
// checks that it stays self-contained; the sources live in generators.cc, csv_trace_source.cc and its readers.
#include "traces/request.h"
