/* How a simulation code writes a Baler-compressed dataset with plain HDF5 calls, and reads it
 * back. Build: h5cc -shlib write_read.c -o write_read -lm (a program linked with a static HDF5 must
 * export its symbols for the plugin to find them: add -rdynamic); run:
 * HDF5_PLUGIN_PATH=<dir of libh5baler.so> ./write_read out.h5. Exits 0 when every value is within
 * the bound. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BALER_FILTER 305 /* HDF5's testing range until registered */
#define NT 12
#define NY 90
#define NX 110

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "baler.h5";
    const double bound = 1e-3; /* |x - x'| <= bound */
    unsigned int cd[3] = {0 /* abs */, 0, 0};
    memcpy(cd + 1, &bound, sizeof bound); /* the f64 as two u32 halves, low first (little-endian host) */

    size_t n = (size_t)NT * NY * NX;
    float *data = malloc(n * sizeof *data), *back = malloc(n * sizeof *back);
    for (size_t i = 0; i < n; i++) {
        size_t t = i / (NY * NX), y = i / NX % NY, x = i % NX;
        data[i] = (float)(sin(0.07 * x + 0.3 * t) * cos(0.05 * y) * 20.0);
    }

    hsize_t dims[3] = {NT, NY, NX}, chunk[3] = {4, NY, NX};
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t space = H5Screate_simple(3, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, chunk);
    if (H5Pset_filter(dcpl, BALER_FILTER, H5Z_FLAG_MANDATORY, 3, cd) < 0) return 2;
    hid_t dset = H5Dcreate2(file, "temperature", H5T_NATIVE_FLOAT, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dset < 0 || H5Dwrite(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) return 3;
    hsize_t stored = H5Dget_storage_size(dset);
    H5Dclose(dset); H5Pclose(dcpl); H5Sclose(space); H5Fclose(file);

    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    dset = H5Dopen2(file, "temperature", H5P_DEFAULT);
    if (dset < 0 || H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) < 0) return 4;
    H5Dclose(dset); H5Fclose(file);

    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)data[i] - (double)back[i]));
    printf("values %zu  stored %llu bytes  ratio %.2f  max error %.3g (bound %g)\n", n,
           (unsigned long long)stored, (double)(n * sizeof *data) / (double)stored, worst, bound);
    free(data); free(back);
    return worst <= bound ? 0 : 1;
}
