#ifndef STYLIZE_COPENBLAS_SHIM_H
#define STYLIZE_COPENBLAS_SHIM_H
#include <cblas.h>
/* Thread control, declared by OpenBLAS itself in openblas_config.h / cblas.h. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif
