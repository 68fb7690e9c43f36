#ifndef STYLIZE_IMAGE_CODECS_H
#define STYLIZE_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

/* libpng and libjpeg report errors by longjmp; every such jump is caught in this C target and turned
 * into a status code plus a message. Swift never sees a longjmp. */

enum stylize_codec_status {
    STYLIZE_CODEC_OK = 0,
    STYLIZE_CODEC_CORRUPT = 1,      /* malformed or truncated data */
    STYLIZE_CODEC_TOO_LARGE = 2,    /* declared size above the pixel limit */
    STYLIZE_CODEC_UNSUPPORTED = 3,  /* a valid file this decoder does not handle */
    STYLIZE_CODEC_NO_MEMORY = 4,
};

/* A decoded image: interleaved samples, rows top to bottom. 8-bit samples are uint8_t, 16-bit samples
 * are native-endian uint16_t. Free `pixels` with stylize_codec_free. */
typedef struct {
    int32_t width;
    int32_t height;
    int32_t channels;      /* 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
    int32_t bit_depth;     /* 8 or 16 */
    int32_t orientation;   /* EXIF orientation 1...8 (JPEG); 1 when absent */
    void *pixels;
    char message[200];     /* set when the status is not OK */
} stylize_decoded_image;

int stylize_decode_png(const uint8_t *data, size_t size, int64_t max_pixels, stylize_decoded_image *out);
int stylize_decode_jpeg(const uint8_t *data, size_t size, int64_t max_pixels, stylize_decoded_image *out);

/* Encoders write a malloc'd buffer to *out (free with stylize_codec_free). */
int stylize_encode_png(const void *pixels, int32_t width, int32_t height, int32_t channels, int32_t bit_depth,
                       uint8_t **out, size_t *out_size, char message[200]);
int stylize_encode_jpeg(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels, int32_t quality,
                        int32_t chroma_subsampling_420, uint8_t **out, size_t *out_size, char message[200]);

void stylize_codec_free(void *pointer);

#endif
