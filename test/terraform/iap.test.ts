import assert from 'node:assert/strict';
import { iapAudiencePattern } from '../../functions/src/adapters/auth/iapJwtAuthenticator.js';
import {
  block,
  expressionOf,
  loadTerraformModule,
  local,
  resource,
  stringsIn,
  type TerraformModule,
} from './terraformModule.js';

/** The reviewer console behind Identity-Aware Proxy (terraform/iap.tf), parsed without providers. */
describe('Terraform: the reviewer console behind IAP', () => {
  let tf: TerraformModule;
  before(async () => {
    tf = await loadTerraformModule();
  });

  it('turns IAP on for the backend service that fronts the reviewer function, and nothing else', () => {
    const backend = resource(tf, 'google_compute_backend_service.console');
    assert.equal(block(backend, 'iap').enabled, true);
    const neg = resource(tf, 'google_compute_region_network_endpoint_group.console');
    assert.equal(neg.network_endpoint_type, 'SERVERLESS');
    assert.equal(block(neg, 'cloud_run').service, '${local.functions.reviewer_api.name}');
  });

  it('lets through only the reviewer members, as IAP users, never everyone', () => {
    const grant = resource(tf, 'google_iap_web_backend_service_iam_member.console_reviewers');
    assert.equal(grant.role, 'roles/iap.httpsResourceAccessor');
    assert.match(String(grant.for_each), /var\.console_iap\.reviewer_members/);
    const everything = stringsIn([...tf.resources.values(), ...tf.locals.values()]);
    for (const text of everything) assert.doesNotMatch(text, /allUsers|allAuthenticatedUsers/);
  });

  it('gives the reviewer function the audience the code verifies, in the backend-service form', () => {
    const audience = expressionOf(local(tf, 'console_iap_audience'))!;
    assert.match(audience, /\/projects\/\$\{data\.google_project\.this\.number\}\/global\/backendServices\//);
    assert.match(audience, /google_compute_backend_service\.console\[0\]\.generated_id/);
    const example = audience
      .replace(/^.*\? "/, '')
      .replace(/" : null.*$/, '')
      .replace('${data.google_project.this.number}', '123456789012')
      .replace('${google_compute_backend_service.console[0].generated_id}', '4242424242');
    assert.match(example, iapAudiencePattern);
    assert.match(
      expressionOf(local(tf, 'console_iap_environment'))!,
      /IAP_AUDIENCE = local\.console_iap_audience/,
    );
  });
});
