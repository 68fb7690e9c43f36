#include "ImageCodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

void stylize_codec_free(void *pointer) { free(pointer); }

static void set_message(char *destination, const char *text) {
    snprintf(destination, 200, "%s", text);
}

/* ---------------------------------------------------------------- PNG */

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t position;
    char *message;
    jmp_buf jump;
} png_read_context;

static void png_error_handler(png_structp png, png_const_charp text) {
    png_read_context *context = (png_read_context *)png_get_error_ptr(png);
    set_message(context->message, text);
    longjmp(context->jump, 1);
}

static void png_warning_handler(png_structp png, png_const_charp text) { (void)png; (void)text; }

static void png_read_memory(png_structp png, png_bytep destination, size_t length) {
    png_read_context *context = (png_read_context *)png_get_io_ptr(png);
    if (length > context->size - context->position) {
        png_error(png, "truncated file: data ends before the image does");
    }
    memcpy(destination, context->data + context->position, length);
    context->position += length;
}

int stylize_decode_png(const uint8_t *data, size_t size, int64_t max_pixels, stylize_decoded_image *out) {
    memset(out, 0, sizeof(*out));
    out->orientation = 1;
    png_read_context context = {data, size, 0, out->message};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &context, png_error_handler, png_warning_handler);
    if (!png) { set_message(out->message, "out of memory"); return STYLIZE_CODEC_NO_MEMORY; }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_message(out->message, "out of memory");
        return STYLIZE_CODEC_NO_MEMORY;
    }
    /* Everything freed on the error path lives in these volatile locals. */
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    volatile int status = STYLIZE_CODEC_CORRUPT;
    if (setjmp(context.jump)) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return status;
    }
    png_set_read_fn(png, &context, png_read_memory);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    if ((int64_t)width * (int64_t)height > max_pixels) {
        snprintf(out->message, sizeof(out->message), "declares %ux%u pixels, above the limit of %lld",
                 width, height, (long long)max_pixels);
        status = STYLIZE_CODEC_TOO_LARGE;
        longjmp(context.jump, 1);
    }
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16) png_set_swap(png);   /* PNG is big-endian; we hand out native little-endian */
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    int depth = png_get_bit_depth(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if (channels < 1 || channels > 4 || (depth != 8 && depth != 16) ||
        row_bytes != (size_t)width * (size_t)channels * (size_t)(depth / 8)) {
        set_message(out->message, "unexpected PNG layout after expansion");
        status = STYLIZE_CODEC_UNSUPPORTED;
        longjmp(context.jump, 1);
    }
    pixels = (uint8_t *)malloc(row_bytes * height + 1);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * (height + 1));
    if (!pixels || !rows) {
        set_message(out->message, "out of memory");
        status = STYLIZE_CODEC_NO_MEMORY;
        longjmp(context.jump, 1);
    }
    for (png_uint_32 row = 0; row < height; row++) rows[row] = pixels + row * row_bytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    out->channels = channels;
    out->bit_depth = depth;
    out->pixels = pixels;
    return STYLIZE_CODEC_OK;
}

typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
    int failed;
    char *message;
    jmp_buf jump;
} png_write_context;

static void png_write_error_handler(png_structp png, png_const_charp text) {
    png_write_context *context = (png_write_context *)png_get_error_ptr(png);
    set_message(context->message, text);
    longjmp(context->jump, 1);
}

static void png_write_memory(png_structp png, png_bytep source, size_t length) {
    png_write_context *context = (png_write_context *)png_get_io_ptr(png);
    if (context->size + length > context->capacity) {
        size_t capacity = context->capacity ? context->capacity : 65536;
        while (capacity < context->size + length) capacity *= 2;
        uint8_t *grown = (uint8_t *)realloc(context->data, capacity);
        if (!grown) png_error(png, "out of memory");
        context->data = grown;
        context->capacity = capacity;
    }
    memcpy(context->data + context->size, source, length);
    context->size += length;
}

static void png_flush_memory(png_structp png) { (void)png; }

int stylize_encode_png(const void *pixels, int32_t width, int32_t height, int32_t channels, int32_t bit_depth,
                       uint8_t **out, size_t *out_size, char message[200]) {
    *out = NULL;
    *out_size = 0;
    if (width <= 0 || height <= 0 || channels < 1 || channels > 4 || (bit_depth != 8 && bit_depth != 16)) {
        set_message(message, "invalid image dimensions or format for PNG");
        return STYLIZE_CODEC_UNSUPPORTED;
    }
    png_write_context context = {NULL, 0, 0, 0, message};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &context, png_write_error_handler, png_warning_handler);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        set_message(message, "out of memory");
        return STYLIZE_CODEC_NO_MEMORY;
    }
    if (setjmp(context.jump)) {
        free(context.data);
        png_destroy_write_struct(&png, &info);
        return STYLIZE_CODEC_NO_MEMORY;
    }
    static const int color_types[] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                      PNG_COLOR_TYPE_RGB_ALPHA};
    png_set_write_fn(png, &context, png_write_memory, png_flush_memory);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, bit_depth, color_types[channels],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    if (bit_depth == 16) png_set_swap(png);
    size_t row_bytes = (size_t)width * (size_t)channels * (size_t)(bit_depth / 8);
    for (int32_t row = 0; row < height; row++) {
        png_write_row(png, (png_const_bytep)pixels + (size_t)row * row_bytes);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out = context.data;
    *out_size = context.size;
    return STYLIZE_CODEC_OK;
}

/* ---------------------------------------------------------------- JPEG */

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char *message;
    int truncated;
} jpeg_error_context;

static void jpeg_error_exit(j_common_ptr info) {
    jpeg_error_context *context = (jpeg_error_context *)info->err;
    char text[JMSG_LENGTH_MAX];
    (*info->err->format_message)(info, text);
    if (context->truncated) {
        /* The data ran out first; whatever libjpeg tripped over next is a consequence. */
        snprintf(context->message, 200, "truncated file: data ends before the image does (%s)", text);
    } else {
        set_message(context->message, text);
    }
    longjmp(context->jump, 1);
}

/* libjpeg only warns when data runs out (and pads with gray); a truncated file is an error here. */
static void jpeg_emit_message(j_common_ptr info, int level) {
    if (level == -1 && info->err->msg_code == JWRN_JPEG_EOF) {
        ((jpeg_error_context *)info->err)->truncated = 1;
    }
}

static uint16_t read16(const uint8_t *p, int little) { return little ? (uint16_t)(p[0] | p[1] << 8) : (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t read32(const uint8_t *p, int little) {
    return little ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
                  : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The Orientation tag (0x0112) of IFD0 in an APP1 "Exif" segment; 1 when absent or malformed. */
static int exif_orientation(const uint8_t *data, size_t length) {
    if (length < 14 || memcmp(data, "Exif\0\0", 6) != 0) return 1;
    const uint8_t *tiff = data + 6;
    size_t size = length - 6;
    int little;
    if (tiff[0] == 'I' && tiff[1] == 'I') little = 1;
    else if (tiff[0] == 'M' && tiff[1] == 'M') little = 0;
    else return 1;
    uint32_t offset = read32(tiff + 4, little);
    if (offset > size - 2 || offset < 8) return 1;
    uint16_t entries = read16(tiff + offset, little);
    for (uint16_t index = 0; index < entries; index++) {
        size_t entry = (size_t)offset + 2 + (size_t)index * 12;
        if (entry + 12 > size) return 1;
        if (read16(tiff + entry, little) == 0x0112) {
            uint16_t value = read16(tiff + entry + 8, little);
            return (value >= 1 && value <= 8) ? value : 1;
        }
    }
    return 1;
}

int stylize_decode_jpeg(const uint8_t *data, size_t size, int64_t max_pixels, stylize_decoded_image *out) {
    memset(out, 0, sizeof(*out));
    out->orientation = 1;
    struct jpeg_decompress_struct info;
    jpeg_error_context error;
    memset(&info, 0, sizeof(info));
    info.err = jpeg_std_error(&error.base);
    error.base.error_exit = jpeg_error_exit;
    error.base.emit_message = jpeg_emit_message;
    error.message = out->message;
    error.truncated = 0;
    uint8_t *volatile pixels = NULL;
    volatile int status = STYLIZE_CODEC_CORRUPT;
    if (setjmp(error.jump)) {
        free(pixels);
        jpeg_destroy_decompress(&info);
        return status;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_save_markers(&info, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&info, TRUE);
    if ((int64_t)info.image_width * (int64_t)info.image_height > max_pixels) {
        snprintf(out->message, sizeof(out->message), "declares %ux%u pixels, above the limit of %lld",
                 info.image_width, info.image_height, (long long)max_pixels);
        status = STYLIZE_CODEC_TOO_LARGE;
        longjmp(error.jump, 1);
    }
    for (jpeg_saved_marker_ptr marker = info.marker_list; marker; marker = marker->next) {
        if (marker->marker == JPEG_APP0 + 1) {
            int orientation = exif_orientation(marker->data, marker->data_length);
            if (orientation != 1) { out->orientation = orientation; break; }
        }
    }
    int cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
    int adobe_inverted = cmyk && info.saw_Adobe_marker;
    if (cmyk) info.out_color_space = JCS_CMYK;
    else if (info.jpeg_color_space == JCS_GRAYSCALE) info.out_color_space = JCS_GRAYSCALE;
    else info.out_color_space = JCS_RGB;
    jpeg_start_decompress(&info);
    int channels = cmyk ? 3 : info.output_components;
    size_t row_bytes = (size_t)info.output_width * (size_t)info.output_components;
    size_t out_row_bytes = (size_t)info.output_width * (size_t)channels;
    pixels = (uint8_t *)malloc(out_row_bytes * info.output_height + row_bytes + 1);
    if (!pixels) {
        set_message(out->message, "out of memory");
        status = STYLIZE_CODEC_NO_MEMORY;
        longjmp(error.jump, 1);
    }
    uint8_t *scratch = pixels + out_row_bytes * info.output_height;
    while (info.output_scanline < info.output_height) {
        JDIMENSION row = info.output_scanline;
        JSAMPROW target = cmyk ? scratch : pixels + (size_t)row * out_row_bytes;
        if (jpeg_read_scanlines(&info, &target, 1) != 1) break;
        if (error.truncated) {
            set_message(out->message, "truncated file: data ends before the image does");
            longjmp(error.jump, 1);
        }
        if (cmyk) {
            /* Adobe writes CMYK inverted; RGB = (255 − C)(255 − K)/255 in the uninverted form. */
            uint8_t *destination = pixels + (size_t)row * out_row_bytes;
            for (JDIMENSION x = 0; x < info.output_width; x++) {
                int c = scratch[4 * x], m = scratch[4 * x + 1], y = scratch[4 * x + 2], k = scratch[4 * x + 3];
                if (!adobe_inverted) { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k; }
                destination[3 * x] = (uint8_t)((c * k + 127) / 255);
                destination[3 * x + 1] = (uint8_t)((m * k + 127) / 255);
                destination[3 * x + 2] = (uint8_t)((y * k + 127) / 255);
            }
        }
    }
    if (error.truncated || info.output_scanline < info.output_height) {
        set_message(out->message, "truncated file: data ends before the image does");
        longjmp(error.jump, 1);
    }
    jpeg_finish_decompress(&info);
    out->width = (int32_t)info.output_width;
    out->height = (int32_t)info.output_height;
    out->channels = channels;
    out->bit_depth = 8;
    out->pixels = pixels;
    jpeg_destroy_decompress(&info);
    return STYLIZE_CODEC_OK;
}

int stylize_encode_jpeg(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels, int32_t quality,
                        int32_t chroma_subsampling_420, uint8_t **out, size_t *out_size, char message[200]) {
    *out = NULL;
    *out_size = 0;
    if (width <= 0 || height <= 0 || (channels != 1 && channels != 3)) {
        set_message(message, "JPEG needs a gray or RGB image");
        return STYLIZE_CODEC_UNSUPPORTED;
    }
    struct jpeg_compress_struct info;
    jpeg_error_context error;
    memset(&info, 0, sizeof(info));
    info.err = jpeg_std_error(&error.base);
    error.base.error_exit = jpeg_error_exit;
    error.message = message;
    error.truncated = 0;
    unsigned char *volatile buffer = NULL;
    unsigned long buffer_size = 0;
    if (setjmp(error.jump)) {
        jpeg_destroy_compress(&info);
        free(buffer);
        return STYLIZE_CODEC_CORRUPT;
    }
    jpeg_create_compress(&info);
    jpeg_mem_dest(&info, (unsigned char **)&buffer, &buffer_size);
    info.image_width = (JDIMENSION)width;
    info.image_height = (JDIMENSION)height;
    info.input_components = channels;
    info.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&info);
    jpeg_set_quality(&info, quality < 1 ? 1 : (quality > 100 ? 100 : quality), TRUE);
    if (channels == 3) {
        info.comp_info[0].h_samp_factor = chroma_subsampling_420 ? 2 : 1;
        info.comp_info[0].v_samp_factor = chroma_subsampling_420 ? 2 : 1;
        info.comp_info[1].h_samp_factor = info.comp_info[1].v_samp_factor = 1;
        info.comp_info[2].h_samp_factor = info.comp_info[2].v_samp_factor = 1;
    }
    jpeg_start_compress(&info, TRUE);
    size_t row_bytes = (size_t)width * (size_t)channels;
    while (info.next_scanline < info.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)info.next_scanline * row_bytes);
        jpeg_write_scanlines(&info, &row, 1);
    }
    jpeg_finish_compress(&info);
    jpeg_destroy_compress(&info);
    *out = buffer;
    *out_size = buffer_size;
    return STYLIZE_CODEC_OK;
}
