import type { Http } from '../http.ts'

// Initial seam: replaced by the full storage service.
export class StorageService {
  constructor(readonly http: Http) {}
}
