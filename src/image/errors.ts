/**
 * Errors of the image layer. Each has a stable code so callers (and tests) can tell a truncated
 * tar from a corrupt one, or a path escape from a permission problem, without matching messages.
 */
import { BuildError, type KilnErrorOptions } from '../errors.js';

export type TarErrorCode =
  | 'TAR_TRUNCATED'
  | 'TAR_CHECKSUM'
  | 'TAR_CORRUPT'
  | 'TAR_UNSUPPORTED'
  | 'TAR_INVALID_ENTRY'
  | 'TAR_FILE_CHANGED'
  | 'TAR_CONTENT_CONSUMED'
  | 'TAR_OUTPUT_CLOSED';

/** A tar stream could not be read or written. */
export class TarError extends BuildError {
  override readonly code: TarErrorCode;

  constructor(code: TarErrorCode, message: string, options: KilnErrorOptions = {}) {
    super(code, message, options);
    this.name = 'TarError';
    this.code = code;
  }
}

export type ExtractErrorCode =
  | 'LAYER_PATH_ESCAPE'
  | 'LAYER_LINK_ESCAPE'
  | 'LAYER_INVALID_PATH'
  | 'LAYER_EXTRACT_FAILED';

/** A layer entry was refused or could not be applied to the target directory. */
export class ExtractError extends BuildError {
  override readonly code: ExtractErrorCode;
  /** The entry's path inside the layer. */
  readonly entryPath: string;

  constructor(code: ExtractErrorCode, message: string, entryPath: string, cause?: unknown) {
    super(code, message, cause === undefined ? {} : { cause });
    this.name = 'ExtractError';
    this.code = code;
    this.entryPath = entryPath;
  }
}

export type ImageErrorCode =
  | 'IMAGE_UNSUPPORTED_MEDIA_TYPE'
  | 'IMAGE_DIGEST_MISMATCH'
  | 'IMAGE_INVALID_DIGEST'
  | 'IMAGE_LAYOUT_INVALID'
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE_NO_MATCHING_PLATFORM'
  | 'IMAGE_COMPRESSOR_FAILED';

/** An image, blob, layout or compression problem. */
export class ImageError extends BuildError {
  override readonly code: ImageErrorCode;

  constructor(code: ImageErrorCode, message: string, options: KilnErrorOptions = {}) {
    super(code, message, options);
    this.name = 'ImageError';
    this.code = code;
  }
}
