// The catalogue: every detector of the product, in id order (1–38). A fresh set
// of detector instances per call: detectors hold state, so each pipeline needs
// its own.

import type { Detector } from './detector.js';
import type { DetectorMeta } from './types.js';
import { createUnfamiliarResourceDetector } from './unfamiliar-resource.js';
import { createSigninSpikeDetector } from './signin-spike.js';
import { createFailedAccessDetector } from './failed-access.js';
import { createRiskyUserSigninDetector } from './risky-user-signin.js';
import { createUnfamiliarSigninPropertiesDetector } from './unfamiliar-signin-properties.js';
import { createImpossibleTravelDetector } from './impossible-travel.js';
import { createTokenReplayDetector } from './token-replay.js';
import { createScopeEscalationDetector } from './scope-escalation.js';
import { createExfiltrationDetector } from './exfiltration.js';
import { createGatewayThreatDetector } from './gateway-threat.js';
import { createAgentPropagationDetector } from './agent-propagation.js';
import { createDormantReactivationDetector } from './dormant-reactivation.js';
import { createOrphanedAgentDetector } from './orphaned-agent.js';
import { createRevokedAgentActivityDetector } from './revoked-agent-activity.js';
import { createBackdoorCredentialDetector } from './backdoor-credential.js';
import { createBulkCollectionDetector } from './bulk-collection.js';
import { createLookalikeDestinationDetector } from './lookalike-destination.js';
import { createAbusedWebServiceDetector } from './abused-web-service.js';
import { createSecretEnumerationDetector } from './secret-enumeration.js';
import { createAnonymousNetworkDetector } from './anonymous-network.js';
import { createMassSendDetector } from './mass-send.js';
import { createForeignWorkloadNetworkDetector } from './foreign-workload-network.js';
import { createTokenWithoutSigninDetector } from './token-without-signin.js';
import { createCloudMetadataAccessDetector } from './cloud-metadata-access.js';
import { createCredentialFileUploadDetector } from './credential-file-upload.js';
import { createMirroredUploadDetector } from './mirrored-upload.js';
import { createForcedAuthenticationDetector } from './forced-authentication.js';
import { createCryptominingDetector } from './cryptomining.js';
import { createSessionHarvestDetector } from './session-harvest.js';
import { createKerberoastingDetector } from './kerberoasting.js';
import { createPasswordSprayDetector } from './password-spray.js';
import { createDomainGenerationDetector } from './domain-generation.js';
import { createClusterAdminAccessDetector } from './cluster-admin-access.js';
import { createIndustrialProtocolDetector } from './industrial-protocol.js';
import { createFtpUploadDetector } from './ftp-upload.js';
import { createMainframeAccessDetector } from './mainframe-access.js';
import { createCloudCredentialPivotDetector } from './cloud-credential-pivot.js';
import { createLateralMovementDetector } from './lateral-movement.js';
import { createNetworkDiscoveryDetector } from './network-discovery.js';
import { createInternalReachDetector } from './internal-reach.js';

/** Detector ids in catalogue order. Fixed: fixtures and evaluation rely on them. */
export const DETECTOR_IDS = [
  'unfamiliar-resource',
  'signin-spike',
  'failed-access',
  'risky-user-signin',
  'unfamiliar-signin-properties',
  'impossible-travel',
  'token-replay',
  'scope-escalation',
  'exfiltration',
  'gateway-threat',
  'agent-propagation',
  'dormant-reactivation',
  'orphaned-agent',
  'revoked-agent-activity',
  'backdoor-credential',
  'bulk-collection',
  'lookalike-destination',
  'abused-web-service',
  'secret-enumeration',
  'anonymous-network',
  'mass-send',
  'foreign-workload-network',
  'token-without-signin',
  'cloud-metadata-access',
  'credential-file-upload',
  'mirrored-upload',
  'forced-authentication',
  'cryptomining',
  'session-harvest',
  'kerberoasting',
  'password-spray',
  'domain-generation',
  'cluster-admin-access',
  'industrial-protocol',
  'ftp-upload',
  'mainframe-access',
  'cloud-credential-pivot',
  'lateral-movement',
  'network-discovery',
  'internal-reach',
] as const;

export type DetectorId = (typeof DETECTOR_IDS)[number];

/** Fresh instances of every detector of the catalogue, in id order. */
export function createCatalogue(): Detector[] {
  return [
    createUnfamiliarResourceDetector(),
    createSigninSpikeDetector(),
    createFailedAccessDetector(),
    createRiskyUserSigninDetector(),
    createUnfamiliarSigninPropertiesDetector(),
    createImpossibleTravelDetector(),
    createTokenReplayDetector(),
    createScopeEscalationDetector(),
    createExfiltrationDetector(),
    createGatewayThreatDetector(),
    createAgentPropagationDetector(),
    createDormantReactivationDetector(),
    createOrphanedAgentDetector(),
    createRevokedAgentActivityDetector(),
    createBackdoorCredentialDetector(),
    createBulkCollectionDetector(),
    createLookalikeDestinationDetector(),
    createAbusedWebServiceDetector(),
    createSecretEnumerationDetector(),
    createAnonymousNetworkDetector(),
    createMassSendDetector(),
    createForeignWorkloadNetworkDetector(),
    createTokenWithoutSigninDetector(),
    createCloudMetadataAccessDetector(),
    createCredentialFileUploadDetector(),
    createMirroredUploadDetector(),
    createForcedAuthenticationDetector(),
    createCryptominingDetector(),
    createSessionHarvestDetector(),
    createKerberoastingDetector(),
    createPasswordSprayDetector(),
    createDomainGenerationDetector(),
    createClusterAdminAccessDetector(),
    createIndustrialProtocolDetector(),
    createFtpUploadDetector(),
    createMainframeAccessDetector(),
    createCloudCredentialPivotDetector(),
    createLateralMovementDetector(),
    createNetworkDiscoveryDetector(),
    createInternalReachDetector(),
  ] as Detector[];
}

/** Metadata of every detector in the catalogue (for the API and docs). */
export function catalogueMeta(): DetectorMeta[] {
  return createCatalogue().map((d) => d.meta);
}
