// Herald's jest configuration for the rehosted soketi tests (soketi's own: ts-jest,
// jest-circus, maxWorkers 1, 20 s per test; coverage collection dropped).
module.exports = {
    rootDir: __dirname,
    roots: ['<rootDir>/tests'],
    transform: {
        '^.+\\.tsx?$': 'ts-jest',
    },
    moduleFileExtensions: ['ts', 'tsx', 'js', 'jsx', 'json', 'node'],
    testTimeout: 20 * 1000,
    maxWorkers: 1,
    testRunner: 'jest-circus/runner',
    globals: {
        'ts-jest': {
            isolatedModules: true,
        },
        Uint8Array: Uint8Array,
    },
};
