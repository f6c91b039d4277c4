/**
 * Pixel work for the thread pool examples (`threads.ts`, `flagship.ts`): a job that downscales an RGBA image to half
 * its width and height by a 2x2 box filter, its handler, and images generated from a seed.
 *
 * The app and the entry file (`pixels.worker.ts`) both import this module. `Downscale`, the job's definition, carries
 * the schemas that take an image to a thread and its thumbnail back; the pixel buffers are moved across, not copied
 * (`Transferable.Uint8Array`), and the handler's typed error, `CorruptImage`, crosses as itself. The handler,
 * `downscale`, is the same function on both sides: a fiber pool runs it in-process, the thread pool on its threads.
 *
 * Not a program of its own: imported by the examples and by `pixels.worker.ts`.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Transferable from "effect/workers/Transferable"
import { ThreadPool } from "../src/index.ts"

/**
 * An image: RGBA pixels, 4 bytes each, row after row. `stuck` stands for a file that the decoder never gets through
 * (a crafted one): its handler spins in a synchronous loop, which only terminating its thread stops (on a fiber pool,
 * nothing would: it would hold the process's one thread for ever).
 */
export const Image = Schema.Struct({
  file: Schema.String,
  width: Schema.Number,
  height: Schema.Number,
  pixels: Transferable.Uint8Array,
  stuck: Schema.optionalKey(Schema.Boolean)
})
export type Image = typeof Image.Type

/** A thumbnail: RGBA pixels, half the image's width and height. */
export const Thumbnail = Schema.Struct({
  file: Schema.String,
  width: Schema.Number,
  height: Schema.Number,
  pixels: Transferable.Uint8Array
})
export type Thumbnail = typeof Thumbnail.Type

/** The handler's typed error: the image has a bad size, or its pixels do not match its size. */
export class CorruptImage extends Schema.TaggedError<CorruptImage>()("CorruptImage", {
  file: Schema.String,
  reason: Schema.String
}) {}

/** The job, for a thread pool: the schemas of its input, its result and its typed error. */
export const Downscale = ThreadPool.define({ input: Image, success: Thumbnail, error: CorruptImage })

/** The handler: checks the image, then downscales it. The work is synchronous, all CPU. */
export const downscale = (image: Image): Effect.Effect<Thumbnail, CorruptImage> =>
  Effect.suspend(() => {
    const { file, height, pixels, width } = image
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 2 || height < 2) {
      return Effect.fail(new CorruptImage({ file, reason: `bad size ${width}x${height}` }))
    }
    if (pixels.length !== width * height * 4) {
      return Effect.fail(
        new CorruptImage({
          file,
          reason: `truncated: ${pixels.length} bytes of pixels, ${width * height * 4} expected`
        })
      )
    }
    if (image.stuck === true) return Effect.sync(spin)
    return Effect.sync(() => boxFilter(image))
  })

/**
 * Halves an image's width and height: each pixel of the result is the average of a 2x2 block (a last odd row or
 * column is dropped). The color channels are averaged in linear light, as a correct downscaler does (averaging the
 * sRGB-encoded values would darken edges and fine detail); alpha is averaged as it is.
 */
export const boxFilter = (image: Image): Thumbnail => {
  const { pixels, width } = image
  const w = width >> 1
  const h = image.height >> 1
  const row = width * 4
  const out = new Uint8Array(w * h * 4)
  for (let y = 0; y < h; y++) {
    let i = 2 * y * row // the block's top-left pixel
    let o = y * w * 4
    for (let x = 0; x < w; x++, i += 8, o += 4) {
      for (let c = 0; c < 3; c++) {
        const j = i + c
        out[o + c] = toSrgb(
          (toLinear[pixels[j]] + toLinear[pixels[j + 4]] + toLinear[pixels[j + row]] +
            toLinear[pixels[j + row + 4]]) / 4
        )
      }
      out[o + 3] = (pixels[i + 3] + pixels[i + 7] + pixels[i + row + 3] + pixels[i + row + 7] + 2) >> 2
    }
  }
  return { file: image.file, width: w, height: h, pixels: out }
}

/** An sRGB-encoded byte in linear light, from 0 to 1. */
const toLinear = Float64Array.from({ length: 256 }, (_, byte) => {
  const c = byte / 255
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4
})

/** Linear light, from 0 to 1, as an sRGB-encoded byte. */
const toSrgb = (linear: number): number =>
  Math.round(255 * (linear <= 0.0031308 ? linear * 12.92 : 1.055 * linear ** (1 / 2.4) - 0.055))

/** What a stuck decoder does: loops forever, never yielding. Only terminating its thread stops it. */
const spin = (): never => {
  for (;;) {
    // busy
  }
}

/**
 * Generates an image from a seed, the same on every run: color gradients across it, under fine noise, opaque.
 */
export const generate = (file: string, seed: number, width: number, height: number): Image => {
  const pixels = new Uint8Array(width * height * 4)
  const red = Uint8Array.from({ length: width }, (_, x) => (x * 192) / width)
  let state = Math.imul(seed, 0x9e3779b1) | 1
  let i = 0
  for (let y = 0; y < height; y++) {
    const green = ((y * 192) / height) | 0
    for (let x = 0; x < width; x++, i += 4) {
      // xorshift32: the noise
      state ^= state << 13
      state ^= state >>> 17
      state ^= state << 5
      pixels[i] = red[x] + (state & 63)
      pixels[i + 1] = green + ((state >>> 8) & 63)
      pixels[i + 2] = state >>> 16
      pixels[i + 3] = 255
    }
  }
  return { file, width, height, pixels }
}

/** A checksum (FNV-1a, 32 bits) of thumbnails: their sizes and every byte of their pixels, in order, as 8 hex digits. */
export const checksum = (thumbnails: Iterable<Thumbnail>): string => {
  let hash = 0x811c9dc5
  const mix = (byte: number) => {
    hash = Math.imul(hash ^ byte, 0x01000193)
  }
  for (const { height, pixels, width } of thumbnails) {
    mix(width & 255)
    mix(width >>> 8)
    mix(height & 255)
    mix(height >>> 8)
    for (let i = 0; i < pixels.length; i++) hash = Math.imul(hash ^ pixels[i], 0x01000193)
  }
  return (hash >>> 0).toString(16).padStart(8, "0")
}
