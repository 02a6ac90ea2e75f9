/* Writes a 16x16 CMYK JPEG (Adobe APP14 marker, inverted CMYK as Photoshop stores it) to stdout.
 * OpenCV cannot write CMYK JPEGs; this made fuzz/seeds/cmyk.jpg, which the fuzz corpus and
 * tests/bad_input_test.cpp use:   cc fuzz/make_cmyk_jpeg.c -ljpeg -o /tmp/cmyk && /tmp/cmyk > fuzz/seeds/cmyk.jpg
 * Every pixel is pure red: C=0 M=100% Y=100% K=0, stored inverted as (255, 0, 0, 255). */
#include <stdio.h>

#include <jpeglib.h>

int main(void) {
  enum { kSide = 16 };
  struct jpeg_compress_struct cinfo;
  struct jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, stdout);
  cinfo.image_width = kSide;
  cinfo.image_height = kSide;
  cinfo.input_components = 4;
  cinfo.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&cinfo); /* CMYK in, CMYK stored, Adobe marker written */
  jpeg_set_quality(&cinfo, 95, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  JSAMPLE row[kSide * 4];
  for (int x = 0; x < kSide; ++x) {
    row[4 * x + 0] = 255; /* C: no cyan (inverted) */
    row[4 * x + 1] = 0;   /* M: full magenta */
    row[4 * x + 2] = 0;   /* Y: full yellow */
    row[4 * x + 3] = 255; /* K: no black */
  }
  JSAMPROW rows[1] = {row};
  while (cinfo.next_scanline < cinfo.image_height) jpeg_write_scanlines(&cinfo, rows, 1);
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return 0;
}
