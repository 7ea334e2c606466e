// The public types: the extension manifest and the REST API's paths, operations and components.
export type { NOFXExtensionManifest as NofxExtensionManifest } from "./generated/manifest.js";
export type { components, operations, paths } from "./generated/api.js";

import type { components } from "./generated/api.js";
import type { NOFXExtensionManifest as NofxExtensionManifest } from "./generated/manifest.js";

/** A version as `GET /api/v1/publisher-versions/{id}/` returns it. */
export type PublisherVersion = components["schemas"]["PublisherVersion"];

/** A minimal connector manifest, checked by tsc so the generated manifest type stays usable. */
export const exampleManifest: NofxExtensionManifest = {
  id: "acme.tickets",
  version: "0.1.0",
  type: "connector",
  name: "Acme Tickets",
  description: "Sync tickets between Acme and your service desk.",
  author: { name: "Acme" },
  category: "ticketing",
  requires: { platform: ">=0.1.0 <1.0.0" },
  entryPoint: "connector.json",
};
