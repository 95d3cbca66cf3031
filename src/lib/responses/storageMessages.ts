import { defaultStorageMessages, type StorageMessages } from '../../plugins/storage/StorageMessages.js';

/**
 * The storage plugin's failures in this bot's words: where the plugin says what is wrong, the bot adds which of its
 * commands helps (a plugin cannot know a bot's commands). Given to the plugin as `storage.messages`.
 */
export const botStorageMessages: Partial<StorageMessages> = {
	userQuota: (status) =>
		defaultStorageMessages.userQuota(status).replace('Delete some of your images to make room.', 'Delete images with /images delete.'),
	globalQuota: (status) =>
		defaultStorageMessages
			.globalQuota(status)
			.replace('the bot owner can free space.', 'the bot owner can free space with /storage cleanup.'),
	invalidImageId: 'That is not an image id: image ids are 16 letters and digits, as shown by /images list.',
	notFound: 'No image with that id in your gallery. See /images list for your images.'
};
