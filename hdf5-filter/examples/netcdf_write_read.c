/* A NetCDF-4 variable written through the Baler filter with netCDF-C's own filter API
 * (nc_def_var_filter), the way a model that writes NetCDF output would, then read back.
 * Build: cc netcdf_write_read.c $(nc-config --cflags --libs) -lm -o netcdf_write_read
 * Run:   HDF5_PLUGIN_PATH=<dir of libh5baler.so> ./netcdf_write_read out.nc
 * Exits 0 when every value is within the bound and the fill values are exact. */
#include <math.h>
#include <netcdf.h>
#include <netcdf_filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BALER_FILTER 305 /* HDF5's testing range until registered */
#define NT 8
#define NY 60
#define NX 90
#define CHECK(call)                                                                  \
    do {                                                                             \
        int status_ = (call);                                                        \
        if (status_ != NC_NOERR) {                                                   \
            fprintf(stderr, "%s: %s\n", #call, nc_strerror(status_));               \
            return 2;                                                                \
        }                                                                            \
    } while (0)

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "baler.nc";
    const double bound = 0.005;
    const float fill = -1e30f;
    unsigned int params[3] = {0 /* abs */, 0, 0};
    memcpy(params + 1, &bound, sizeof bound); /* the f64 as two u32 halves, low first (little-endian host) */

    size_t n = (size_t)NT * NY * NX;
    float *data = malloc(n * sizeof *data), *back = malloc(n * sizeof *back);
    for (size_t i = 0; i < n; i++) {
        size_t t = i / (NY * NX), y = i / NX % NY, x = i % NX;
        data[i] = x < 6 ? fill : (float)(285.0 + 12.0 * sin(0.08 * x + 0.2 * t) * cos(0.05 * y));
    }

    int nc, dims[3], var;
    size_t chunks[3] = {4, NY, NX};
    CHECK(nc_create(path, NC_CLOBBER | NC_NETCDF4, &nc));
    CHECK(nc_def_dim(nc, "time", NT, &dims[0]));
    CHECK(nc_def_dim(nc, "lat", NY, &dims[1]));
    CHECK(nc_def_dim(nc, "lon", NX, &dims[2]));
    CHECK(nc_def_var(nc, "tas", NC_FLOAT, 3, dims, &var));
    CHECK(nc_def_var_chunking(nc, var, NC_CHUNKED, chunks));
    CHECK(nc_def_var_fill(nc, var, 0, &fill)); /* _FillValue: the filter keeps it exactly */
    CHECK(nc_def_var_filter(nc, var, BALER_FILTER, 3, params));
    CHECK(nc_put_var_float(nc, var, data));
    CHECK(nc_close(nc));

    CHECK(nc_open(path, NC_NOWRITE, &nc));
    CHECK(nc_inq_varid(nc, "tas", &var));
    CHECK(nc_get_var_float(nc, var, back));
    CHECK(nc_close(nc));

    double worst = 0;
    size_t fills = 0;
    for (size_t i = 0; i < n; i++) {
        if (data[i] == fill) {
            fills++;
            if (back[i] != fill) return 1;
        } else {
            worst = fmax(worst, fabs((double)data[i] - (double)back[i]));
        }
    }
    printf("values %zu  fill values %zu exact  max error %.3g (bound %g)\n", n, fills, worst, bound);
    free(data); free(back);
    return worst <= bound ? 0 : 1;
}
