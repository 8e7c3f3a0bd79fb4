import { DocumentError } from '../../core/errors.ts';
import type { LoadedDocument, Loader } from '../types.ts';
import { CFB_MIME } from './detect.ts';

/** The stream name an encrypted OOXML package is stored under, in the UTF-16LE of CFB directory entries. */
const ENCRYPTED_PACKAGE = Buffer.from('EncryptedPackage', 'utf16le');

/**
 * OLE compound files are either an encrypted Office document (Office wraps every password-
 * protected .docx/.xlsx/.pptx in one) or a legacy binary .doc/.xls/.ppt. Neither can be read,
 * and each gets a reason that says what to do.
 */
export const compoundFileLoader: Loader = {
  mimes: [CFB_MIME],
  async load(bytes: Uint8Array, source: string): Promise<LoadedDocument> {
    if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(ENCRYPTED_PACKAGE)) {
      throw new DocumentError(source, 'is a password-protected Office document; remove the password and retry', { encrypted: true });
    }
    throw new DocumentError(
      source,
      'is a legacy binary Office file (.doc/.xls/.ppt), which is not supported; save it as .docx/.xlsx/.pptx',
    );
  },
};
